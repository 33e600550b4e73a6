// Text report of a benchmark run: per scenario and target (req/s, p50, p99, errors, server CPU), the
// ratios of our service to the Go reference and to the bare node server, and start-up time / memory; for the
// layer run (--layers) the layer table and the start-up of every row instead. Also the run's checks
// (checkResults), whose failure makes the run exit 1.

import { cpuMicrosPerRequest } from './telemetry.mjs';

/** Other processes using at least this much CPU (% of one core) during a measured run make it "noisy". */
export const NOISE_PERCENT = 10;

const num = (n, digits = 0) =>
  n == null || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (n) => (n == null ? '–' : n < 10 ? num(n, 2) : n < 100 ? num(n, 1) : num(n, 0));
const mb = (kb) => (kb ? num(kb / 1024, 1) : '–');
const ratio = (a, b) => {
  if (a == null || b == null || !b) return '–';
  const r = a / b;
  return `${num(r, r >= 10 ? 1 : r >= 0.1 ? 2 : 3)}×`;
};

/** Renders rows (arrays of strings) as aligned columns; `right` = indexes of right-aligned columns. */
function table(header, rows, right = []) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (right.includes(i) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The measured result of a scenario for a target, or undefined. */
const measured = (target, scenario) => {
  const r = target.scenarios?.[scenario.name];
  return r && !r.error ? r : undefined;
};

/** The whole text report. */
/** The telemetry-cost runs, one per runtime (results from before 2026-12 hold a single object). */
const telemetryRuns = (results) => (results.telemetry == null ? [] : Array.isArray(results.telemetry) ? results.telemetry : [results.telemetry]);

const ratioText = (r) => (Number.isFinite(r) ? num(r, 2) : '–');

/** A scenario's per-round ratios, grouped by the variant launched first (results before 2026-12-02 have no order). */
function perRound(s) {
  if (!s.firsts?.some(Boolean)) return s.ratios.map(ratioText).join(' ');
  const group = (first) => s.ratios.filter((_, i) => s.firsts[i] === first).map(ratioText).join(' ');
  return `off first: ${group('off')}; on first: ${group('on')}`;
}

/** The telemetry-cost pairs (lib/telemetry.mjs): medians per variant and the order-balanced paired ratio (no verdict). */
function telemetrySection(telemetry, scenarios) {
  const [off, on] = telemetry.variants;
  const label = (name) => scenarios.find((s) => s.name === name)?.label ?? name;
  const rows = Object.entries(telemetry.scenarios).map(([name, s]) => [
    label(name),
    num(s.off.rps),
    num(s.on.rps),
    s.ratio == null ? '–' : `${num(s.ratio, 3)}`,
    perRound(s),
    `${num(s.off.cpuUsPerRequest)} → ${num(s.on.cpuUsPerRequest)}`,
    s.cost == null ? '–' : `${num(s.cost * 100, 1)} %`,
  ]);
  return [
    `Telemetry cost on ${telemetry.target ?? 'ours'}: "${on.label}" vs "${off.label}" (${telemetry.rounds} round(s), the two side by side on one core; ` +
      `${num(telemetry.spansExported)} spans exported in ${num(telemetry.exportRequests)} OTLP requests).`,
    table(['Scenario', 'off req/s', 'on req/s', 'on/off (both orders)', 'per round', 'CPU µs/req off → on', 'cost'], rows, [1, 2, 3, 5, 6]),
  ];
}

/** A scenario's label by name. */
const labelOf = (results, name) => results.scenarios.find((s) => s.name === name)?.label ?? name;

/**
 * The run's checks; any problem makes the run exit 1 (the CI smoke, `npm run bench -- --quick`, relies on it):
 *   - a target that should run could not start (an unavailable `required` one too: ours when the build fails);
 *     targets skipped for a missing prerequisite (no PostgreSQL URL, no nginx, no Go reference) are not problems;
 *   - a scenario failed: its server exited, seeding failed, or the load generator failed;
 *   - a measured run of ours (ours: true; the telemetry pairs too) answered nothing, or failed more than
 *     `allowance` of its requests (status >= 400 with wrk / non-2xx with autocannon, socket errors, timeouts).
 * Optional targets (the Bun ones) are reported, never checked.
 * @returns {{ allowance: number, problems: string[] }}
 */
export function checkResults(results, allowance) {
  const problems = [];
  const checkRequests = (where, r) => {
    const failed = r.errors?.total ?? 0;
    if (!(r.requests > 0)) problems.push(`${where}: no request was answered`);
    else if (failed > allowance * r.requests) {
      problems.push(
        `${where}: ${num(failed)} of ${num(r.requests)} requests failed (${num(r.errors.status)} error statuses, ` +
          `${num(r.errors.socket)} socket errors or timeouts); allowed: ${num(allowance * 100, 2)} %`,
      );
    }
  };
  for (const t of results.targets) {
    if (t.optional) continue;
    if (!t.available) {
      if (t.startFailed || t.required) problems.push(`${t.name}: ${t.note}`);
      continue;
    }
    for (const [name, r] of Object.entries(t.scenarios ?? {})) {
      const where = `${t.name} / ${labelOf(results, name)}`;
      if (r.error) problems.push(`${where}: ${r.error}`);
      else if (t.ours) checkRequests(where, r);
    }
  }
  for (const telemetry of telemetryRuns(results)) {
    for (const [name, s] of Object.entries(telemetry.scenarios)) {
      s.runs?.forEach((run, round) => {
        for (const [variant, r] of Object.entries(run).filter(([key]) => key !== 'first')) {
          const where = `telemetry ${variant} on ${telemetry.target} / ${labelOf(results, name)}, round ${round + 1}`;
          if (r.error) problems.push(`${where}: ${r.error}`);
          else if (r.errors) checkRequests(where, r);
        }
      });
    }
  }
  return { allowance, problems };
}

function checksSection(checks) {
  if (!checks) return [];
  if (checks.problems.length === 0) {
    return [
      `Checks passed: every target that should run started, no scenario failed, and no measured run of ours failed more than ` +
        `${num(checks.allowance * 100, 2)} % of its requests.`,
    ];
  }
  return [`CHECKS FAILED (exit status 1): ${checks.problems.length} problem(s)`, ...checks.problems.map((p) => `  - ${p}`)];
}

const signed = (n) => (n == null || !Number.isFinite(n) ? '–' : n > 0.5 ? `+${num(n)}` : n < -0.5 ? `−${num(-n)}` : '0');

/** The layer run (--layers): the layer table and the start-up table. */
function layerSections(results) {
  const { scenarios } = results;
  const rows = results.targets;
  const byName = new Map(rows.map((t) => [t.name, t]));
  const micros = (t, s) => {
    const r = t && measured(t, s);
    return r ? cpuMicrosPerRequest(r) : null;
  };
  const groupTitle = (t) => (t.reference ? 'Go' : (t.runtimeVersion ?? t.runtime));
  const notRun = new Map(); // note → row names
  const tableRows = [];
  let group;
  for (const t of rows) {
    if (groupTitle(t) !== group) {
      group = groupTitle(t);
      tableRows.push([group, '', ...scenarios.flatMap(() => ['', '', '', ''])]);
    }
    const over = t.over && byName.get(t.over);
    const label = `  ${t.label}`;
    if (!t.available) {
      const note = (t.note ?? '').split('\n')[0];
      notRun.set(note, [...(notRun.get(note) ?? []), t.name]);
      tableRows.push([label, over ? over.layer : '', ...scenarios.flatMap(() => ['n/a', '', '', ''])]);
      continue;
    }
    tableRows.push([
      label,
      over ? over.layer : '',
      ...scenarios.flatMap((s) => {
        const r = t.scenarios?.[s.name];
        if (!r || r.error) return ['FAILED', '', '', ''];
        const noisy = r.otherCpuPercent >= NOISE_PERCENT && !t.otherCpuIsOwn;
        const own = micros(t, s);
        const base = over ? micros(over, s) : null;
        return [num(own), own != null && base != null ? signed(own - base) : '', `${num(r.rps)}${noisy ? ' !' : ''}`, ms(r.latencyMs.p99)];
      }),
    ]);
  }
  const header = ['Layer', 'over', ...scenarios.flatMap((s) => [`${s.short} µs`, 'Δ µs', 'req/s', 'p99 ms'])];
  const numeric = header.map((_, i) => i).filter((i) => i >= 2);
  const out = [];
  out.push('Layers: server CPU µs per request, its delta over the row named in "over", req/s and p99 per scenario (one server at a time):');
  out.push(table(header, tableRows, numeric));
  for (const [note, names] of notRun) out.push(`not run: ${names.join(', ')}: ${note}`);
  for (const t of rows) {
    for (const [name, r] of Object.entries(t.scenarios ?? {})) if (r.error) out.push(`FAILED ${t.name} / ${labelOf(results, name)}: ${r.error}`);
  }
  out.push('');

  const bareNode = rows.find((t) => t.runtime === 'node' && t.layer === 'bare' && t.startup);
  const startRows = rows
    .filter((t) => t.available && t.startup)
    .map((t) => {
      const r = bareNode ? t.startup.medianMs / bareNode.startup.medianMs : null;
      return [
        `${t.reference ? 'Go' : t.runtime} ${t.label}`,
        ms(t.startup.medianMs),
        t.startup.runsMs.map((x) => ms(x)).join(' '),
        r == null ? '–' : `${num(r, 2)}×`,
        t.ours && r != null ? (r <= 1.3 ? 'yes' : 'NO') : '',
        mb(t.idleRssKb),
        mb(t.peakRssKb),
        mb(t.peakAnonKb),
      ];
    });
  out.push('Start-up (spawn → first 200 on GET /health) and memory, per row; the issue-30 target for ours: ≤ 1.3× the bare node server:');
  out.push(table(['Row', 'start-up ms (median)', 'runs (ms)', '÷ bare node', '≤ 1.3×', 'idle RSS MB', 'peak RSS MB', 'peak anon MB'], startRows, [1, 3, 5, 6, 7]));
  return out;
}

export function formatReport(results) {
  const out = [];
  const { meta, scenarios } = results;
  const targets = results.targets.filter((t) => t.available);

  out.push(
    `Benchmark ${meta.date} — ${meta.tool}, ${meta.options.connections} connections, ` +
      `${meta.options.warmup} s warm-up + ${meta.options.duration} s per scenario, ${num(meta.options.seed)} seeded todos` +
      (meta.options.quick ? ' (quick)' : ''),
  );
  out.push(`Servers on CPU ${meta.serverCpu}, load generator on CPU ${meta.loadgenCpu}; ${meta.cpuModel} (${meta.cpus} CPUs), Node ${meta.node}`);
  if (results.mode === 'layers') {
    out.push(...[...new Set(targets.filter((t) => t.note).map((t) => t.note))].map((n) => `  ${n}`), '');
    out.push(...layerSections(results), '');
    out.push(...checksSection(results.checks), '');
    out.push('µs = the server\'s CPU time over the measured window ÷ the requests it answered; Δ µs = that minus the "over" row\'s (the chain');
    out.push('bare → floor → storage → logging → shipped adds up; "+ metrics" has no logging and is read against storage only). The rows');
    out.push('of ours are one bundle with LOG_LEVEL=silent / info and METRICS_ENABLED=false / true; "!" = other processes used');
    out.push(`≥ ${NOISE_PERCENT} % of a core meanwhile. The bare server does a little real work (URL parsing, a Map of todos, a fresh`);
    out.push('timestamp), the floor answers constants: the floor can cost less than bare. start-up = median of fresh starts;');
    out.push('peak RSS = max over the scenarios.');
    return out.join('\n');
  }
  for (const t of results.targets.filter((t) => !t.available)) out.push(`NOTE: ${t.name} not benchmarked: ${t.note}`);
  for (const t of targets.filter((t) => t.note)) out.push(`${t.name}: ${t.note}`);
  out.push('');

  const rows = [];
  const failures = [];
  const noisy = [];
  for (const s of scenarios) {
    targets.forEach((t, i) => {
      const r = t.scenarios?.[s.name];
      const first = i === 0 ? s.label : '';
      if (!r) return;
      if (r.error) {
        rows.push([first, t.name, 'FAILED', '–', '–', '–', '–', '–']);
        failures.push(`${t.name} / ${s.label}: ${r.error}`);
        return;
      }
      const other = r.otherCpuPercent;
      if (other >= NOISE_PERCENT && !t.otherCpuIsOwn) noisy.push({ name: `${t.name} / ${s.label}`, other });
      rows.push([
        first,
        t.name,
        num(r.rps),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        num(r.errors.total),
        num(r.cpuPercent),
        other >= NOISE_PERCENT && !t.otherCpuIsOwn ? `${num(other)} !` : num(other),
      ]);
    });
  }
  out.push(table(['Scenario', 'Target', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'CPU %', 'other CPU %'], rows, [2, 3, 4, 5, 6, 7]));
  for (const f of failures) out.push(`FAILED ${f}`);
  if (noisy.length) {
    const worst = noisy.sort((a, b) => b.other - a.other).slice(0, 3).map((n) => `${n.name} (${num(n.other)} %)`);
    out.push(
      `NOISY (!): in ${noisy.length} of ${rows.length - failures.length} runs other processes used ≥ ${NOISE_PERCENT} % of a core ` +
        `while measuring (worst: ${worst.join(', ')}); their numbers are low — re-run on a quieter machine.`,
    );
  }
  out.push('');

  const oursTargets = targets.filter((t) => t.name.startsWith('ours'));
  const go = targets.find((t) => t.name === 'go');
  const bare = targets.find((t) => t.name === 'bare');
  if (oursTargets.length && (go || bare)) {
    const ratioRows = scenarios.flatMap((s) =>
      oursTargets.map((ours, i) => {
        const o = measured(ours, s);
        const g = go && measured(go, s);
        const b = bare && measured(bare, s);
        return [
          i === 0 ? s.label : '',
          ours.name,
          ratio(o?.rps, g?.rps),
          ratio(o?.latencyMs.p99, g?.latencyMs.p99),
          ratio(o?.rps, b?.rps),
          ratio(o?.latencyMs.p99, b?.latencyMs.p99),
        ];
      }),
    );
    out.push('Ours relative to the others (req/s ratio > 1 = ours faster; p99 ratio < 1 = ours lower latency):');
    out.push(table(['Scenario', 'Target', 'req/s vs go', 'p99 vs go', 'req/s vs bare', 'p99 vs bare'], ratioRows, [2, 3, 4, 5]));
  } else {
    out.push('Ratios: not shown (they need our service and at least one of go / bare).');
  }
  out.push('');

  const memRows = results.targets
    .filter((t) => t.available)
    .map((t) => [
      t.name,
      t.startup?.medianMs != null ? ms(t.startup.medianMs) : '–',
      t.startup?.runsMs ? t.startup.runsMs.map((x) => ms(x)).join(' ') : (t.startup?.error ?? ''),
      mb(t.idleRssKb),
      mb(t.peakRssKb),
      mb(t.peakAnonKb),
    ]);
  out.push(table(['Target', 'start-up ms (median)', 'runs (ms)', 'idle RSS MB', 'peak RSS MB', 'peak anon MB'], memRows, [1, 3, 4, 5]));
  out.push('');
  for (const telemetry of telemetryRuns(results)) out.push(...telemetrySection(telemetry, scenarios), '');
  out.push(...checksSection(results.checks), '');
  out.push('start-up = spawn → first 200 on GET /health; idle RSS = ~0.5 s after start, empty store; peak RSS = max over all scenarios (VmRSS samples every 100 ms and VmHWM);');
  out.push('peak anon = max RssAnon sampled every 100 ms: RSS without the file-backed pages (the node binary, libraries) a container\'s kernel can reclaim.');
  out.push('errors = status >= 400 (wrk) / non-2xx (autocannon) + socket errors and timeouts; those of ours fail the run past the allowance.');
  out.push('CPU % = the server process\'s CPU time over the measured window, in % of one core (kernel network work in softirq is not');
  out.push('counted, so a saturated server can show < 100 %); other CPU % = all other processes on the machine meanwhile (noise).');
  if (telemetryRuns(results).length > 0) {
    out.push('Telemetry pairs share one core (and its caches), so their CPU µs per request are higher than a server alone shows;');
    out.push('compare the two with each other.');
  }
  return out.join('\n');
}
