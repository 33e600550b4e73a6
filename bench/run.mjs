#!/usr/bin/env node
// Benchmark orchestrator (`npm run bench`, `npm run bench -- --quick`).
//
// For each target (ours: the production bundle on SQLite; go: the Go/Gin reference; bare: a plain
// node:http server — see lib/targets.mjs), one at a time, with the server pinned to CPU 0 and the load
// generator (wrk, or autocannon as a fallback) pinned to CPU 1:
//   1. start-up time: spawn → first 200 on GET /health, several fresh starts, median; idle RSS;
//   2. per scenario (lib/scenarios.mjs) on a FRESH server (new process, empty store): seed todos through
//      POST /api/todos, warm up, then a measured run: req/s, p50/p99, errors, server CPU %, peak RSS.
//      A fresh server per scenario keeps the scenarios independent: the POST and mix runs add tens of
//      thousands of todos, which would otherwise slow down every later scenario of the in-memory servers.
//      The machine is shared: the CPU time other processes take during each measurement is recorded, and
//      a scenario measured while they took >= 10 % of a core is re-run (BENCH_NOISE_RETRIES, default 2).
//   3. the telemetry-cost pairs (lib/telemetry.mjs), side by side.
// `--layers` runs the layer table instead (lib/targets.mjs, LAYERS): per runtime (Node, Bun), the bare server, the
// Fastify floor and our service with its parts switched on one by one, plus the Go reference; the same method
// (fresh server per scenario, server core / load core), scenario by scenario across all rows.
// Output: the text report on stdout; bench/results/latest.json (+ a timestamped copy) and
// bench/results/latest.svg. Progress goes to stderr. Options: see lib/options.mjs.
// Exit status 1 (after the report) when the run's checks fail (checkResults in lib/report.mjs): a target that
// should run could not start, a scenario failed (the load generator included), or a measured run of ours had
// more failed requests than BENCH_ERROR_ALLOWANCE of them. `.ci/run`'s smoke (`--quick`) relies on it.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { renderChart } from './lib/chart.mjs';
import { seedTodos } from './lib/http.mjs';
import { abortLoad, detectTool, runLoad } from './lib/load.mjs';
import { loadOptions } from './lib/options.mjs';
import { LOADGEN_CPU, SERVER_CPU, freePort, hasTaskset, pinSelf, startServer, stopServer } from './lib/proc.mjs';
import { RssSampler, cpuSeconds, cpuSecondsWithChildren, machineBusySeconds, memoryKb, perCpuBusySeconds } from './lib/procstats.mjs';
import { NOISE_PERCENT, checkResults, formatReport } from './lib/report.mjs';
import { selectScenarios } from './lib/scenarios.mjs';
import { prepareLayers, prepareTargets, withEnv } from './lib/targets.mjs';
import { TELEMETRY_VARIANTS, cpuMicrosPerRequest, startOtlpSink, summariseTelemetry } from './lib/telemetry.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH_DIR, '..');
const RESULTS_DIR = join(BENCH_DIR, 'results');

const log = (message) => process.stderr.write(`[bench] ${message}\n`);

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// --- cleanup on Ctrl-C: stop the running server and load generator, remove temp dirs ------------------

const live = { servers: new Set(), dirs: new Set() };

function tempDir(prefix) {
  const dir = mkdtempSync(join(os.tmpdir(), `bench-${prefix}-`));
  live.dirs.add(dir);
  return dir;
}

function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  live.dirs.delete(dir);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    abortLoad();
    for (const server of live.servers) if (!server.exited()) server.child.kill('SIGKILL');
    for (const dir of live.dirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

/** Starts a fresh instance of a target (new temp dir, new port; with `grpc`, a gRPC port too: GRPC_PORT). */
async function launch(target, { grpc = false } = {}) {
  const dir = tempDir(target.name);
  const port = await freePort();
  const grpcPort = grpc ? await freePort() : undefined;
  // A launch may prepare something outside the temp dir (a PostgreSQL schema) and say how to remove it.
  const spec = await target.launch({ port, dir, grpcPort });
  try {
    const server = await startServer({ ...spec, port, logFile: join(dir, 'stderr.log') });
    if (grpcPort) server.grpcBase = `http://127.0.0.1:${grpcPort}`;
    live.servers.add(server);
    return { server, dir, cleanup: spec.cleanup };
  } catch (err) {
    removeDir(dir);
    await spec.cleanup?.();
    throw err;
  }
}

async function shutdown({ server, dir, cleanup }) {
  await stopServer(server);
  live.servers.delete(server);
  removeDir(dir);
  await cleanup?.();
}

/** Start-up time over several fresh starts; idle RSS of the last one. */
async function measureStartup(target, runs) {
  const runsMs = [];
  let idleRssKb = null;
  for (let i = 0; i < runs; i++) {
    const instance = await launch(target);
    runsMs.push(instance.server.startupMs);
    if (i === runs - 1) {
      await sleep(500);
      idleRssKb = memoryKb(instance.server.pid)?.rssKb ?? null;
    }
    await shutdown(instance);
  }
  return { startup: { runsMs, medianMs: median(runsMs) }, idleRssKb };
}

/** Shows a countdown on a terminal while a load runs. */
function countdown(prefix, seconds) {
  if (!process.stderr.isTTY) return () => {};
  const end = Date.now() + seconds * 1000;
  const tick = () => process.stderr.write(`\r[bench] ${prefix} ${Math.max(0, Math.ceil((end - Date.now()) / 1000))} s left `);
  tick();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}

/** The measured run: load result, server CPU % and other processes' CPU % (noise) over the window. */
async function measure(server, load, seconds, label) {
  const done = countdown(label, seconds);
  // CPU: the server's own; ours (this process + the load generator, a child reaped within the window);
  // the rest of the machine's busy time is other processes ("noise").
  const snapshot = () => ({
    server: cpuSeconds(server.pid),
    own: cpuSecondsWithChildren(process.pid),
    machine: machineBusySeconds(),
    perCpu: perCpuBusySeconds(),
  });
  const before = snapshot();
  const wallBefore = performance.now();
  const result = await runLoad({ ...load, seconds }).finally(done);
  const wall = (performance.now() - wallBefore) / 1000;
  const after = snapshot();
  if (server.exited()) throw new Error(`the server exited during the run (${JSON.stringify(server.exitInfo())})`);
  const serverCpu = after.server - before.server;
  const otherCpu = after.machine - before.machine - serverCpu - (after.own - before.own);
  return {
    ...result,
    cpuPercent: (serverCpu / wall) * 100,
    otherCpuPercent: Math.max(0, (otherCpu / wall) * 100),
    loadgenCpuPercent: ((after.own - before.own) / wall) * 100, // the load generator + this process
    perCpuBusyPercent: after.perCpu.map((busy, i) => Math.round(((busy - before.perCpu[i]) / wall) * 1000) / 10),
  };
}

/** Seeds a fresh server with options.seed todos; returns their ids and the load job for `scenario`. */
async function seed(server, tag, scenario, { options, tool }) {
  log(`${tag}: seeding ${options.seed} todos …`);
  const ids = await seedTodos(server.base, options.seed, options.seedConcurrency);
  const params = { idMin: ids[0], idMax: ids.at(-1), pages: Math.max(1, Math.ceil(ids.length / 10)) };
  if (ids.at(-1) - ids[0] + 1 !== ids.length) log(`${tag}: WARNING seeded ids are not contiguous; some lookups will 404`);
  return { ids, load: { tool: tool.name, base: server.base, grpcBase: server.grpcBase, scenario, params, connections: options.connections, threads: options.threads } };
}

/** One scenario on a fresh server: seed, warm up, measure. */
async function runScenarioOnce(target, scenario, { options, tool }) {
  const tag = `[${target.name}] ${scenario.label}`;
  // gRPC is off as shipped: only the gRPC scenarios start ours with GRPC_PORT.
  const instance = await launch(target, { grpc: scenario.grpc });
  const { server } = instance;
  const sampler = new RssSampler(server.pid);
  try {
    const { ids, load } = await seed(server, tag, scenario, { options, tool });
    const { params } = load;
    if (options.warmup > 0) {
      const done = countdown(`${tag}: warm-up`, options.warmup);
      await runLoad({ ...load, seconds: options.warmup }).finally(done);
    }
    const result = await measure(server, load, options.duration, `${tag}: measuring`);
    const peakRssKb = sampler.stop();
    const peakAnonKb = sampler.peakAnonKb;
    log(
      `${tag}: ${Math.round(result.rps)} req/s, p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, ` +
        `${result.errors.total} errors, CPU ${result.cpuPercent.toFixed(0)} %, peak RSS ${(peakRssKb / 1024).toFixed(1)} MB` +
        (result.otherCpuPercent >= NOISE_PERCENT
          ? ` — NOISY: other processes used ${result.otherCpuPercent.toFixed(0)} % CPU (CPUs busy ${result.perCpuBusyPercent.map((p) => `${p.toFixed(0)} %`).join(' / ')}, load generator ${result.loadgenCpuPercent.toFixed(0)} %)`
          : ''),
    );
    return { ...result, peakRssKb, peakAnonKb, seeded: ids.length, params };
  } finally {
    sampler.stop();
    await shutdown(instance);
  }
}

/** Waits (up to `maxSeconds`) until other processes use less than NOISE_PERCENT of a core over 1 s. */
async function waitForQuiet(maxSeconds) {
  const deadline = Date.now() + maxSeconds * 1000;
  while (Date.now() < deadline) {
    const before = machineBusySeconds() - cpuSecondsWithChildren(process.pid);
    await sleep(1000);
    const busyPercent = (machineBusySeconds() - cpuSecondsWithChildren(process.pid) - before) * 100;
    if (busyPercent < NOISE_PERCENT) return true;
  }
  return false;
}

/**
 * A scenario, repeated on a fresh server (up to options.noiseRetries times, after waiting for a quieter
 * machine) while other processes take noticeable CPU during the measurement; keeps the quietest attempt.
 */
async function runScenario(target, scenario, context) {
  const { noiseRetries, quietWait } = context.options;
  let best;
  let attempts = 0;
  for (;;) {
    attempts++;
    const r = await runScenarioOnce(target, scenario, context);
    if (!best || r.otherCpuPercent < best.otherCpuPercent) best = { ...r, attempt: attempts };
    // A target whose own database runs as another process (ours-pg) always looks "noisy": no retries.
    if (r.otherCpuPercent < NOISE_PERCENT || attempts > noiseRetries || target.otherCpuIsOwn) break;
    log(`[${target.name}] ${scenario.label}: noisy; waiting up to ${quietWait} s for a quieter machine, then again (retry ${attempts}/${noiseRetries})`);
    if (!(await waitForQuiet(quietWait))) log(`[${target.name}] ${scenario.label}: still busy; measuring anyway`);
  }
  return { ...best, attempts };
}

/** The result record of a target, filled by startTarget and runScenarioInto. */
function newResult(target) {
  const result = { name: target.name, label: target.label, available: target.available, note: target.note, scenarios: {}, peakRssKb: 0 };
  for (const key of ['ours', 'required', 'optional', 'otherCpuIsOwn', 'binary', 'runtime', 'runtimeVersion', 'layer', 'over', 'reference']) {
    if (target[key] !== undefined) result[key] = target[key];
  }
  return result;
}

/** Start-up time and idle RSS into `result`; false (and the result marked startFailed) if the target cannot start. */
async function startTarget(target, result, context) {
  try {
    log(`[${target.name}] start-up time (${context.options.startupRuns} fresh starts) …`);
    Object.assign(result, await measureStartup(target, context.options.startupRuns));
    log(`[${target.name}] start-up median ${result.startup.medianMs.toFixed(1)} ms; idle RSS ${(result.idleRssKb / 1024).toFixed(1)} MB`);
    return true;
  } catch (err) {
    log(`[${target.name}] cannot start: ${err.message}`);
    Object.assign(result, { available: false, startFailed: true, note: `could not start: ${err.message}` });
    return false;
  }
}

/** One scenario of a started target into `result` (its error, if it fails). */
async function runScenarioInto(target, result, scenario, context) {
  if (scenario.grpc && !target.grpc) return; // only targets that serve gRPC run the gRPC scenarios
  try {
    const r = await runScenario(target, scenario, context);
    result.scenarios[scenario.name] = r;
    result.peakRssKb = Math.max(result.peakRssKb, r.peakRssKb);
    result.peakAnonKb = Math.max(result.peakAnonKb ?? 0, r.peakAnonKb ?? 0);
  } catch (err) {
    log(`[${target.name}] ${scenario.label}: FAILED: ${err.message}`);
    result.scenarios[scenario.name] = { error: err.message };
  }
}

async function benchTarget(target, scenarios, context) {
  log(`=== ${target.label} ===`);
  const result = newResult(target);
  if (await startTarget(target, result, context)) {
    for (const scenario of scenarios) await runScenarioInto(target, result, scenario, context);
  }
  return result;
}

/**
 * The layer run: the start-up of every row, then scenario by scenario every row in turn, so that the rows of one
 * scenario are measured minutes apart at most (the machine's speed drifts over longer spans).
 */
async function benchLayers(rows, scenarios, context) {
  const results = rows.map(newResult);
  const started = [];
  for (const [i, row] of rows.entries()) {
    if (!row.available) log(`NOTE: [${row.name}] not run: ${row.note}`);
    else if (await startTarget(row, results[i], context)) started.push(i);
  }
  for (const scenario of scenarios) {
    log(`=== layers: ${scenario.label} ===`);
    for (const i of started) await runScenarioInto(rows[i], results[i], scenario, context);
  }
  return results;
}

/**
 * One scenario on fresh servers of every variant at once, side by side: all pinned to the server core, each
 * loaded by its own load generator (on the load generator's core) over the same window. The core is shared
 * between them, so each gets the throughput its own CPU cost per request allows, while drifts of the
 * machine's speed hit all of them alike. Returns each variant's result by name.
 */
async function runSideBySide(variants, scenario, context) {
  const { options } = context;
  const instances = [];
  try {
    const jobs = [];
    for (const variant of variants) {
      const instance = await launch(variant, { grpc: scenario.grpc && variant.grpc });
      instances.push(instance);
      jobs.push((await seed(instance.server, `[${variant.name}] ${scenario.label}`, scenario, context)).load);
    }
    const tag = `[${variants.map((v) => v.name).join(' + ')}] ${scenario.label}`;
    if (options.warmup > 0) {
      const done = countdown(`${tag}: warm-up`, options.warmup);
      await Promise.all(jobs.map((job) => runLoad({ ...job, seconds: options.warmup }))).finally(done);
    }
    const done = countdown(`${tag}: measuring`, options.duration);
    const before = instances.map(({ server }) => cpuSeconds(server.pid));
    const othersBefore = machineBusySeconds() - cpuSecondsWithChildren(process.pid);
    const wallBefore = performance.now();
    const loads = await Promise.all(jobs.map((job) => runLoad({ ...job, seconds: options.duration }))).finally(done);
    const wall = (performance.now() - wallBefore) / 1000;
    const servers = instances.reduce((sum, { server }, i) => sum + cpuSeconds(server.pid) - before[i], 0);
    // Other processes' CPU meanwhile (noise): the machine's busy time less the servers', ours and the loads'.
    const otherCpuPercent = Math.max(0, ((machineBusySeconds() - cpuSecondsWithChildren(process.pid) - othersBefore - servers) / wall) * 100);
    const results = {};
    variants.forEach((variant, i) => {
      const { server } = instances[i];
      if (server.exited()) throw new Error(`${variant.name} exited during the run (${JSON.stringify(server.exitInfo())})`);
      const cpuPercent = ((cpuSeconds(server.pid) - before[i]) / wall) * 100;
      results[variant.name] = { ...loads[i], cpuPercent, otherCpuPercent };
      log(`[${variant.name}] ${scenario.label}: ${Math.round(loads[i].rps)} req/s, p99 ${loads[i].latencyMs.p99.toFixed(2)} ms, ` +
        `${loads[i].errors.total} errors, CPU ${cpuPercent.toFixed(0)} % (sharing the core)`);
    });
    return results;
  } finally {
    for (const instance of instances) await shutdown(instance);
  }
}

/**
 * The telemetry cost (lib/telemetry.mjs): per round and scenario, both variants on fresh servers side by side
 * (runSideBySide). Measured one after the other instead, the ratio of a pair moved by ±20 % between rounds on
 * these shared machines; side by side, two identical servers measure 1.00 ± 0.03.
 */
async function benchTelemetry(ours, context) {
  const { telemetryRounds: rounds } = context.options;
  const scenarios = selectScenarios(context.options.telemetryScenarios);
  const sink = await startOtlpSink();
  const prefix = `${ours.name}-telemetry-`;
  const variants = TELEMETRY_VARIANTS.map((v) =>
    withEnv(ours, `${prefix}${v.name}`, v.label, v.otlp ? { ...v.env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } : v.env),
  );
  log(`=== telemetry cost on ${ours.name}: ${variants.map((v) => v.label).join(' vs ')}; ${rounds} round(s) × ${scenarios.length} scenario(s) ===`);
  const perScenario = Object.fromEntries(scenarios.map((s) => [s.name, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const scenario of scenarios) {
        // Which variant starts (and is seeded) first alternates between rounds.
        const order = round % 2 === 0 ? variants : [...variants].reverse();
        const pair = { first: order[0].name.slice(prefix.length) };
        try {
          const results = await runSideBySide(order, scenario, context);
          for (const [name, r] of Object.entries(results)) pair[name.slice(prefix.length)] = r;
        } catch (err) {
          log(`[telemetry] ${scenario.label}: FAILED: ${err.message}`);
          for (const v of variants) pair[v.name.slice(prefix.length)] = { error: err.message };
        }
        const ratio = pair.on?.rps && pair.off?.rps ? pair.on.rps / pair.off.rps : null;
        log(`telemetry (${ours.name}) round ${round + 1}/${rounds}, ${scenario.label}: on/off = ${ratio == null ? '–' : ratio.toFixed(3)}` +
          ` (CPU per request ${cpuMicrosPerRequest(pair.off ?? {})?.toFixed(0) ?? '–'} → ${cpuMicrosPerRequest(pair.on ?? {})?.toFixed(0) ?? '–'} µs)`);
        perScenario[scenario.name].push(pair);
      }
    }
  } finally {
    await sink.close();
  }
  return {
    target: ours.name,
    targetLabel: ours.label,
    targetNote: ours.note,
    variants: TELEMETRY_VARIANTS.map(({ name, label, env }) => ({ name, label, env })),
    rounds,
    spansExported: sink.stats.spans,
    exportRequests: sink.stats.requests,
    scenarios: Object.fromEntries(
      Object.entries(perScenario).map(([name, pairs]) => [
        name,
        {
          ...summariseTelemetry(pairs),
          runs: pairs.map(({ first, ...p }) => ({
            first,
            ...Object.fromEntries(
              Object.entries(p).map(([k, r]) => [
                k,
                r.error ? r : { rps: r.rps, cpuPercent: r.cpuPercent, p99Ms: r.latencyMs.p99, otherCpuPercent: r.otherCpuPercent, requests: r.requests, errors: r.errors },
              ]),
            ),
          })),
        },
      ]),
    ),
  };
}

function describeEnvironment(options, tool, configPath) {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  return {
    date: new Date().toISOString(),
    tool: tool.version,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown CPU',
    kernel: os.release(),
    serverCpu: hasTaskset() ? SERVER_CPU : 'any (no taskset)',
    loadgenCpu: hasTaskset() ? LOADGEN_CPU : 'any (no taskset)',
    commit: git('rev-parse', 'HEAD'),
    dirty: git('status', '--porcelain', '--untracked-files=no') ? true : false,
    config: configPath,
    options,
  };
}

function writeResults(results) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = JSON.stringify(results, null, 2) + '\n';
  const stamp = results.meta.date.replace(/[:.]/g, '-');
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(join(RESULTS_DIR, `bench-${stamp}.json`), json);
  writeFileSync(join(RESULTS_DIR, 'latest.svg'), renderChart(results));
  return [join(RESULTS_DIR, 'latest.json'), join(RESULTS_DIR, `bench-${stamp}.json`), join(RESULTS_DIR, 'latest.svg')];
}

async function main() {
  const { options, extraTargets, configPath } = loadOptions();
  const scenarios = selectScenarios(options.scenarios);
  const tool = detectTool(options.tool);

  if (!hasTaskset()) log('WARNING: taskset not found; servers and load generator are not pinned to separate CPUs');
  else if (os.cpus().length < 2) log('WARNING: fewer than 2 CPUs; the server and the load generator share a core');
  else pinSelf(LOADGEN_CPU); // keep this process (seeding, sampling) off the server's core
  const runKind = `${options.quick ? 'quick' : 'full'}${options.layers ? ' layer' : ''} run`;
  const scenarioCount = options.layers ? options.layerScenarios.length : scenarios.length;
  log(`load generator: ${tool.version}; ${runKind}: ${options.warmup} s warm-up + ${options.duration} s × ${scenarioCount} scenarios, ${options.connections} connections, ${options.seed} seeded todos`);

  const prepare = { root: ROOT, skipBuild: options.skipBuild, log, tempDir };
  const context = { options, tool };
  const results = { meta: describeEnvironment(options, tool, configPath) };
  if (options.layers) {
    const layerScenarios = selectScenarios(options.layerScenarios);
    const rows = await prepareLayers({ ...prepare, runtimes: options.layerRuntimes, withGo: true });
    results.mode = 'layers';
    results.scenarios = layerScenarios.map(({ name, label, short }) => ({ name, label, short }));
    results.targets = await benchLayers(rows, layerScenarios, context);
  } else {
    const targets = await prepareTargets({ ...prepare, names: options.targets, extra: extraTargets });
    for (const t of targets.filter((t) => !t.available)) log(`NOTE: skipping ${t.name}: ${t.note}`);
    results.scenarios = scenarios.map(({ name, label, short }) => ({ name, label, short }));
    results.targets = [];
    for (const target of targets) results.targets.push(target.available ? await benchTarget(target, scenarios, context) : newResult(target));

    if (options.telemetryRounds > 0) {
      results.telemetry = [];
      for (const name of options.telemetryTargets) {
        const target = targets.find((t) => t.name === name && t.available);
        if (target) results.telemetry.push(await benchTelemetry(target, context));
        else log(`NOTE: telemetry cost on ${name} skipped: that target is not among the available ones`);
      }
    }
  }

  results.checks = checkResults(results, options.errorAllowance);
  const files = writeResults(results);
  process.stdout.write(formatReport(results) + '\n');
  log(`wrote ${files.join(', ')}`);
  for (const dir of [...live.dirs]) removeDir(dir);
  if (results.checks.problems.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  log(`error: ${err.stack ?? err.message}`);
  for (const server of live.servers) if (!server.exited()) server.child.kill('SIGKILL');
  for (const dir of live.dirs) rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
