// npm run soak -- --minutes N [--rate R] [--clients C] [--out DIR] [--fault leak] [--service-env KEY=VALUE …]
//
// The service (the built bundle, SQLite in a temporary folder unless --service-env names another DATABASE_URL)
// under a mixed load (create, read, update, list) at a fixed rate below saturation, for N minutes. Every 10 s:
// the process's RSS (/proc), its V8 heap in use (/metrics), the window's p99 latency and error rate. Writes
// soak.json and soak.svg (the chart: RSS and heap, p99, errors over time) to --out.
//
// The verdict fails on any 5xx or network error, or when RSS still grows after warm-up (the first fifth of the
// run, at least 30 s): the least-squares trend of RSS over the rest may rise at most GROWTH_ALLOWANCE_MB plus
// SLOPE_LIMIT_MB_PER_HOUR for each hour measured (a short run sees warm-up's last megabytes, a long one not). A
// service that keeps anything per request (a cache without bound, a listener per request) grows linearly with
// the requests served and fails it; `--fault leak` proves that, by preloading scripts/drills/leak.cjs, which
// keeps 2 KiB per request in the service process.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { productionEnv } from '../../bench/lib/targets.mjs';
import { Load, Service, drill, fmt, root, sleep } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    rate: { type: 'string', default: '400' },
    clients: { type: 'string', default: '16' },
    out: { type: 'string' },
    fault: { type: 'string' },
    'service-env': { type: 'string', multiple: true, default: [] },
    replot: { type: 'string' },
    short: { type: 'boolean' },
  },
});
const MINUTES = Number(opts.minutes);
const RATE = Number(opts.rate);
const CLIENTS = Number(opts.clients);
const SAMPLE_MS = 10_000;
const SLOPE_LIMIT_MB_PER_HOUR = 16;
const GROWTH_ALLOWANCE_MB = 4; // what settles slowly: SQLite's page cache, V8's old space reaching its GC rhythm
if (opts.replot) {
  // --replot soak.json: draw the chart of a saved run again (soak.svg beside it), without running anything
  writeFileSync(join(dirname(opts.replot), 'soak.svg'), chart(JSON.parse(readFileSync(opts.replot, 'utf8'))));
  process.exit(0);
}
if (!(MINUTES > 0) || !(RATE > 0) || !(CLIENTS > 0)) throw new Error('--minutes, --rate and --clients must be positive numbers');

await drill(opts.fault ? `soak-${opts.fault}` : 'soak', async (d) => {
  const out = resolve(opts.out ?? join(tmpdir(), `todo-soak-${Date.now()}`));
  mkdirSync(out, { recursive: true });
  // as the image runs it: the Dockerfile's heap limits and malloc arenas (without them V8 keeps growing its
  // committed heap while the used heap stays flat: RSS 114 → 173 MB in 27 minutes, heap in use ~30 MB throughout)
  const env = { ...productionEnv(root), DATABASE_URL: `sqlite:${join(d.work, 'todos.db')}`, RATE_LIMIT_MAX: '0' };
  for (const pair of opts['service-env']) {
    const at = pair.indexOf('=');
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  if (opts.fault === 'leak') env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${join(root, 'scripts/drills/leak.cjs')}`;
  else if (opts.fault) throw new Error(`--fault: only "leak" is known, not ${opts.fault}`);
  const service = await new Service(d, 'soak', env).start();
  d.log(`NODE_OPTIONS="${env.NODE_OPTIONS ?? ''}" MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX ?? ''}`);
  d.log(`${MINUTES} min at ${RATE} requests/s (${CLIENTS} clients; create, read, update, list) on ${env.DATABASE_URL.split(':')[0]}` +
    `${opts.fault ? `, fault: ${opts.fault}` : ''}; samples every ${SAMPLE_MS / 1000} s → ${out}`);

  const load = new Load({ urls: [service.url], clients: CLIENTS, tag: 'soak', ratePerSecond: RATE }).start();
  const samples = [];
  const all = [];
  let seenRequests = 0;
  let seenFailures = 0;
  const endAt = Date.now() + MINUTES * 60_000;
  while (Date.now() < endAt) {
    await sleep(Math.min(SAMPLE_MS, endAt - Date.now()));
    const window = load.latencies.splice(0);
    for (const ms of window) all.push(ms);
    window.sort((a, b) => a - b);
    const requests = load.requests - seenRequests;
    const failures = load.failures.length - seenFailures;
    seenRequests = load.requests;
    seenFailures = load.failures.length;
    let rss;
    try {
      rss = service.rssBytes();
    } catch {
      d.check('the service stays up', false, `it exited (${JSON.stringify(await service.child.exited)})`);
      break;
    }
    const metrics = await (await fetch(`${service.managementUrl}/metrics`)).text().catch(() => '');
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    const heapTotal = Number(/^nodejs_heap_size_total_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    samples.push({
      t: Math.round((Date.now() - load.startedAt) / 1000),
      rssMB: rss / 2 ** 20,
      heapMB: heap / 2 ** 20,
      heapTotalMB: heapTotal / 2 ** 20,
      p99: window[Math.floor(window.length * 0.99)] ?? 0,
      requests,
      errorRate: requests ? failures / requests : 0,
    });
    const s = samples.at(-1);
    d.log(`${String(s.t).padStart(5)} s  rss ${s.rssMB.toFixed(1)} MB  heap ${s.heapMB.toFixed(1)} of ${s.heapTotalMB.toFixed(1)} MB  ${fmt(requests)} requests  ` +
      `p99 ${s.p99.toFixed(1)} ms  errors ${failures}`);
  }
  await load.stop();
  const pid = service.child.pid;
  const alive = service.child.exitCode === null && service.child.signalCode === null;

  const warm = Math.max(30, (MINUTES * 60) / 5);
  const after = samples.filter((s) => s.t >= warm);
  const slope = slopePerHour(after.map((s) => [s.t, s.rssMB]));
  const fiveXX = [...load.byStatus].filter(([s]) => typeof s === 'string' || s >= 500).reduce((n, [, c]) => n + c, 0);
  all.sort((a, b) => a - b);
  const p99 = all[Math.floor(all.length * 0.99)] ?? 0;
  d.log(`${fmt(load.requests)} requests (${[...load.byStatus].map(([k, n]) => `${k}: ${fmt(n)}`).join(', ')}), p99 ${p99.toFixed(1)} ms`);
  d.check(`no 5xx and no network error (${fmt(load.requests)} requests)`, fiveXX === 0 && load.failures.length === 0,
    load.failures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  const hours = after.length ? (after.at(-1).t - after[0].t) / 3600 : 0;
  const allowed = GROWTH_ALLOWANCE_MB + SLOPE_LIMIT_MB_PER_HOUR * hours;
  d.check(`RSS trend after ${warm} s of warm-up rises less than ${GROWTH_ALLOWANCE_MB} MB + ${SLOPE_LIMIT_MB_PER_HOUR} MB/h (${allowed.toFixed(1)} MB here)`,
    after.length >= 3 && slope * hours < allowed,
    `${slope.toFixed(1)} MB/h × ${(hours * 60).toFixed(1)} min = ${(slope * hours).toFixed(1)} MB (RSS ${after[0]?.rssMB.toFixed(1)} → ${after.at(-1)?.rssMB.toFixed(1)} MB)`);
  d.check(`the service (pid ${pid}) is alive at the end`, alive);

  const result = {
    minutes: MINUTES, rate: RATE, clients: CLIENTS, fault: opts.fault ?? null, requests: load.requests,
    failed: load.failures.length, p99Ms: p99, slopeMBPerHour: slope, warmupSeconds: warm, allowedGrowthMB: allowed,
    runtime: process.version, nodeOptions: env.NODE_OPTIONS ?? '', samples,
  };
  writeFileSync(join(out, 'soak.json'), `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(join(out, 'soak.svg'), chart(result));
  d.log(`wrote ${join(out, 'soak.json')} and soak.svg`);
  d.report({
    load: `${RATE} requests/s mixed, ${CLIENTS} clients`,
    seconds: Math.round(load.seconds),
    requests: load.requests,
    failed: load.failures.length,
    acknowledged: load.acknowledged,
    extra: `RSS trend ${slope.toFixed(1)} MB/h after warm-up (${(slope * hours).toFixed(1)} MB, allowed ${allowed.toFixed(1)}), p99 ${p99.toFixed(1)} ms`,
  });
}, { hardLimitMs: MINUTES * 60_000 + 120_000 });

/** Least-squares slope of [seconds, MB] points, in MB per hour. */
function slopePerHour(points) {
  if (points.length < 2) return Infinity;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return (num / den) * 3600;
}

/** Three panels over time: RSS and heap (MB), p99 (ms), error rate (%). Plain SVG, no library. */
function chart({ samples, minutes, rate, slopeMBPerHour, fault, requests, warmupSeconds }) {
  const W = 760;
  const H = 150;
  const left = 56;
  const right = 16;
  const tMax = Math.max(60, ...samples.map((s) => s.t));
  const x = (t) => left + ((W - left - right) * t) / tMax;
  const panels = [
    { title: 'memory (MB): RSS (blue), V8 heap in use (green)', series: [['rssMB', '#1f77b4'], ['heapMB', '#2ca02c']] },
    { title: 'p99 latency (ms), per 10 s', series: [['p99', '#ff7f0e']] },
    { title: 'failed requests (%), per 10 s', series: [['errorPct', '#d62728']] },
  ];
  const rows = samples.map((s) => ({ ...s, errorPct: s.errorRate * 100 }));
  let svg = '';
  panels.forEach((p, i) => {
    const top = 50 + i * (H + 28);
    const values = p.series.flatMap(([k]) => rows.map((r) => r[k])).filter(Number.isFinite);
    const yMax = niceMax(Math.max(1, ...values));
    const y = (v) => top + H - (H * v) / yMax;
    svg += `<text x="${left}" y="${top - 6}" font-size="12">${p.title}</text>`;
    svg += `<rect x="${left}" y="${top}" width="${W - left - right}" height="${H}" fill="none" stroke="#ccc"/>`;
    svg += `<line x1="${x(warmupSeconds)}" x2="${x(warmupSeconds)}" y1="${top}" y2="${top + H}" stroke="#999" stroke-dasharray="4 3"/>`;
    for (const v of [0, yMax / 2, yMax]) {
      svg += `<text x="${left - 6}" y="${y(v) + 4}" font-size="10" text-anchor="end">${+v.toFixed(1)}</text>`;
      svg += `<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`;
    }
    for (const [k, color] of p.series) {
      const pts = rows.filter((r) => Number.isFinite(r[k])).map((r) => `${x(r.t).toFixed(1)},${y(r[k]).toFixed(1)}`).join(' ');
      svg += `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`;
    }
  });
  const bottom = 50 + panels.length * (H + 28) - 10;
  for (let m = 0; m <= tMax / 60; m += Math.max(1, Math.ceil(tMax / 60 / 12))) {
    svg += `<text x="${x(m * 60)}" y="${bottom}" font-size="10" text-anchor="middle">${m}</text>`;
  }
  svg += `<text x="${W / 2}" y="${bottom + 14}" font-size="11" text-anchor="middle">minutes</text>`;
  const achieved = requests / (minutes * 60);
  const title = `Soak ${minutes} min: ${rate}/s asked, ${achieved.toFixed(0)}/s served${fault ? `, fault: ${fault}` : ''}; ` +
    `RSS trend after warm-up (dashed line) ${slopeMBPerHour.toFixed(1)} MB/h`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${bottom + 24}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/><text x="${left}" y="18" font-size="13">${title}</text>${svg}</svg>\n`;
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}
