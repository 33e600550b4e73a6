// Load generation for one scenario run, on the load-generator CPU: wrk (with the Lua scripts in
// bench/lua/) when it is on PATH, otherwise autocannon in a child process (lib/autocannon-worker.mjs).
// Both return the same shape:
//   { tool, requests, seconds, rps, latencyMs: { p50, p90, p99, max, mean }, errors: { status, socket, total } }
// where errors.status counts responses with status >= 400 (wrk) / non-2xx (autocannon), and
// errors.socket counts connect/read/write errors and timeouts.

import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOADGEN_CPU, pinned } from './proc.mjs';
import { wrkScriptArgs } from './scenarios.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const LUA_DIR = join(HERE, '..', 'lua');
const WORKER = join(HERE, 'autocannon-worker.mjs');
const GRPC_WORKER = join(HERE, 'grpc-worker.mjs');

/** { name: 'wrk'|'autocannon', version } — `forced` ('wrk' / 'autocannon') overrides detection. */
export function detectTool(forced) {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  // "wrk 4.2.0 [epoll] Copyright (C) 2012 Will Glozer" → "wrk 4.2.0 [epoll]"
  const wrkVersion = wrk.error ? null : (wrk.stdout + wrk.stderr).split('\n')[0].replace(/\s*Copyright.*$/, '').trim();
  if (forced === 'wrk' || (!forced && wrkVersion)) {
    if (!wrkVersion) throw new Error('BENCH_TOOL=wrk but wrk is not on PATH');
    return { name: 'wrk', version: wrkVersion };
  }
  if (forced && forced !== 'autocannon') throw new Error(`unknown load generator "${forced}" (wrk or autocannon)`);
  try {
    const require = createRequire(join(HERE, '..', '..', 'package.json'));
    const version = require('autocannon/package.json').version;
    return { name: 'autocannon', version: `autocannon ${version}` };
  } catch {
    throw new Error('neither wrk (apt-get install wrk) nor autocannon (npm install) is available');
  }
}

const running = new Set(); // the load generators running now (the telemetry pairs run two at once)

/** Runs a child process to completion; resolves { code, stdout, stderr }. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
    running.add(child);
  });
}

/** Kills the load generators still running (on Ctrl-C). */
export function abortLoad() {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
}

async function runWrk({ base, scenario, params, seconds, connections, threads }) {
  const url = base + (scenario.path ?? '/');
  const wrkArgs = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${seconds}s`,
    '--timeout', '5s',
    '-s', join(LUA_DIR, scenario.lua),
    url,
    '--',
    ...wrkScriptArgs(params),
  ];
  const [cmd, args] = pinned(LOADGEN_CPU, 'wrk', wrkArgs);
  const { code, stdout, stderr } = await run(cmd, args);
  const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${(stderr || stdout).trim().slice(0, 500)}`);
  const r = JSON.parse(line.slice('WRK_JSON '.length));
  const secs = r.duration_us / 1e6;
  const socket = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  const ms = (us) => Math.round(us) / 1000;
  return {
    tool: 'wrk',
    requests: r.requests,
    seconds: secs,
    rps: r.requests / secs,
    latencyMs: {
      p50: ms(r.latency_us.p50),
      p90: ms(r.latency_us.p90),
      p99: ms(r.latency_us.p99),
      max: ms(r.latency_us.max),
      mean: ms(r.latency_us.mean),
    },
    errors: { status: r.errors.status, socket, total: r.errors.status + socket },
  };
}

async function runAutocannon({ base, scenario, params, seconds, connections }) {
  const job = JSON.stringify({ url: base, scenario: scenario.name, params, seconds, connections });
  const [cmd, args] = pinned(LOADGEN_CPU, process.execPath, [WORKER, job]);
  const { code, stdout, stderr } = await run(cmd, args);
  if (code !== 0) throw new Error(`autocannon failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
  return JSON.parse(stdout);
}

/** A gRPC scenario: the Connect client in a child process, whatever the HTTP load generator is. */
async function runGrpc({ grpcBase, scenario, params, seconds, connections }) {
  if (!grpcBase) throw new Error(`${scenario.name}: the target serves no gRPC`);
  const job = JSON.stringify({ url: grpcBase, scenario: scenario.name, params, seconds, connections });
  const [cmd, args] = pinned(LOADGEN_CPU, process.execPath, [GRPC_WORKER, job]);
  const { code, stdout, stderr } = await run(cmd, args);
  if (code !== 0) throw new Error(`the gRPC load generator failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
  return JSON.parse(stdout);
}

/**
 * One load run of `seconds` against `base` (e.g. http://127.0.0.1:1234), or `grpcBase` for a gRPC scenario.
 * @param {{ tool: string, base: string, grpcBase?: string, scenario: object, params: object, seconds: number, connections: number, threads: number }} job
 */
export function runLoad(job) {
  if (job.scenario.grpc) return runGrpc(job);
  return job.tool === 'wrk' ? runWrk(job) : runAutocannon(job);
}
