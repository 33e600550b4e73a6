// Benchmark options: defaults, overridden by an optional JSON config file (BENCH_CONFIG), then by
// environment variables, then by command-line flags.
//
//   --quick / BENCH_QUICK=1      few-second smoke run (1 s warm-up, 2 s per scenario, 1,000 seed todos)
//   --layers / BENCH_LAYERS=1    the layer run instead of the targets: per runtime, bare server → Fastify floor →
//                                ours with storage only → + logging → + metrics → as shipped (LAYERS in
//                                lib/targets.mjs), and the Go reference; one table of server CPU µs per request,
//                                req/s and p99 per scenario, and the start-up of every row
//   BENCH_LAYER_SCENARIOS=get,list,create   the layer run's scenarios
//   BENCH_LAYER_RUNTIMES=node,bun           the layer run's runtimes (Bun rows say why when Bun is missing)
//   BENCH_DURATION=10            measured seconds per scenario
//   BENCH_WARMUP=3               warm-up seconds per scenario (not measured)
//   BENCH_CONNECTIONS=64         concurrent connections of the load generator
//   BENCH_THREADS=1              wrk threads (the load generator has one core)
//   BENCH_SEED=10000             todos created through POST /api/todos before each scenario
//   BENCH_SEED_CONCURRENCY=32    POSTs in flight while seeding
//   BENCH_STARTUP_RUNS=5         spawns per target for the start-up time (median reported)
//   BENCH_TARGETS=ours,ours-pg,go,bare,nginx-1,nginx-2   which targets to run (extra targets from BENCH_CONFIG by name);
//                                ours-pg needs BENCH_DATABASE_URL or TEST_DATABASE_URL (else it is skipped)
//   BENCH_SCENARIOS=health,...   which scenarios to run (see lib/scenarios.mjs)
//   BENCH_TOOL=wrk|autocannon    force a load generator (default: wrk if on PATH, else autocannon)
//   BENCH_NOISE_RETRIES=2        re-run a scenario (fresh server) when other processes took >= 10 % of a
//                                core during its measurement; the quietest attempt is kept (quick: 0)
//   BENCH_QUIET_WAIT=30          before such a re-run, wait up to this many seconds for a quiet machine
//   BENCH_SKIP_BUILD=1           do not run `npm run build`; use the existing dist/main.cjs
//   BENCH_TELEMETRY_ROUNDS=6     rounds of the telemetry-cost pairs (metrics+tracing on vs both off, see
//                                lib/telemetry.mjs; even, so both start orders run equally often); 0 skips
//                                them (quick: 1). Needs the `ours` target.
//   BENCH_TELEMETRY_SCENARIOS=get,list,create   scenarios of those pairs
//   BENCH_TELEMETRY_TARGETS=ours  the targets the pairs run on; each must also be among the targets
//   BENCH_ERROR_ALLOWANCE=0.001  share of a measured run's requests of ours that may fail (non-2xx, socket
//                                errors, timeouts) before the run fails (exit 1; see checkResults in report.mjs)
//   BENCH_CONFIG=path.json       { "options": { "duration": 5, ... }, "targets": [ ... ] } (see targets.mjs)
//
// Flags: --quick, --layers, --targets=a,b, --scenarios=a,b, --duration=S, --warmup=S, --connections=N, --tool=NAME.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const DEFAULTS = {
  quick: false,
  duration: 10,
  warmup: 3,
  connections: 64,
  threads: 1,
  seed: 10_000,
  seedConcurrency: 32,
  startupRuns: 5,
  targets: ['ours', 'ours-pg', 'go', 'bare', 'nginx-1', 'nginx-2'],
  scenarios: null, // null = all
  tool: null, // null = auto
  noiseRetries: 2,
  quietWait: 30,
  skipBuild: false,
  telemetryRounds: 6,
  telemetryScenarios: ['get', 'list', 'create'],
  telemetryTargets: ['ours'],
  layers: false,
  layerScenarios: ['get', 'list', 'create'],
  layerRuntimes: ['node', 'bun'],
  errorAllowance: 0.001,
};

const QUICK = { duration: 2, warmup: 1, seed: 1_000, startupRuns: 3, noiseRetries: 0, telemetryRounds: 1, telemetryScenarios: ['get'] };

const ENV = {
  duration: ['BENCH_DURATION', 'number'],
  warmup: ['BENCH_WARMUP', 'number'],
  connections: ['BENCH_CONNECTIONS', 'int'],
  threads: ['BENCH_THREADS', 'int'],
  seed: ['BENCH_SEED', 'int'],
  seedConcurrency: ['BENCH_SEED_CONCURRENCY', 'int'],
  startupRuns: ['BENCH_STARTUP_RUNS', 'int'],
  targets: ['BENCH_TARGETS', 'list'],
  scenarios: ['BENCH_SCENARIOS', 'list'],
  tool: ['BENCH_TOOL', 'string'],
  noiseRetries: ['BENCH_NOISE_RETRIES', 'int'],
  quietWait: ['BENCH_QUIET_WAIT', 'number'],
  skipBuild: ['BENCH_SKIP_BUILD', 'bool'],
  telemetryRounds: ['BENCH_TELEMETRY_ROUNDS', 'int'],
  telemetryScenarios: ['BENCH_TELEMETRY_SCENARIOS', 'list'],
  telemetryTargets: ['BENCH_TELEMETRY_TARGETS', 'list'],
  layers: ['BENCH_LAYERS', 'bool'],
  layerScenarios: ['BENCH_LAYER_SCENARIOS', 'list'],
  layerRuntimes: ['BENCH_LAYER_RUNTIMES', 'list'],
  errorAllowance: ['BENCH_ERROR_ALLOWANCE', 'number'],
};

const FLAGS = {
  duration: 'number',
  warmup: 'number',
  connections: 'int',
  targets: 'list',
  scenarios: 'list',
  tool: 'string',
};

function parseValue(raw, type, name) {
  switch (type) {
    case 'number':
    case 'int': {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0 || (type === 'int' && !Number.isInteger(n))) {
        throw new Error(`${name}: expected a ${type === 'int' ? 'whole ' : ''}number, got "${raw}"`);
      }
      return n;
    }
    case 'list':
      return String(raw)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'bool':
      return raw === '1' || raw === 'true' || raw === 'yes';
    default:
      return String(raw);
  }
}

/** Reads the optional config file named by BENCH_CONFIG: { options?: {...}, targets?: [...] }. */
function loadConfigFile(env) {
  if (!env.BENCH_CONFIG) return { options: {}, targets: [], path: null };
  const path = resolve(env.BENCH_CONFIG);
  const parsed = JSON.parse(readFileSync(path, 'utf8'));
  return { options: parsed.options ?? {}, targets: parsed.targets ?? [], path };
}

/**
 * Resolves the options for this run.
 * @returns {{ options: object, extraTargets: object[], configPath: string|null }}
 */
export function loadOptions(argv = process.argv.slice(2), env = process.env) {
  const config = loadConfigFile(env);
  const quick = argv.includes('--quick') || parseValue(env.BENCH_QUICK ?? '', 'bool') || config.options.quick === true;

  const options = { ...DEFAULTS, ...(quick ? QUICK : {}), ...config.options, quick };

  for (const [key, [name, type]] of Object.entries(ENV)) {
    if (env[name] !== undefined && env[name] !== '') options[key] = parseValue(env[name], type, name);
  }

  for (const arg of argv) {
    if (arg === '--quick') continue;
    if (arg === '--layers') {
      options.layers = true;
      continue;
    }
    const match = /^--([a-z]+)=(.*)$/.exec(arg);
    if (!match || !FLAGS[match[1]]) throw new Error(`unknown argument "${arg}" (see the header of bench/lib/options.mjs)`);
    options[match[1]] = parseValue(match[2], FLAGS[match[1]], `--${match[1]}`);
  }

  if (options.duration <= 0) throw new Error('the measured duration must be > 0 s');
  if (options.connections < 1) throw new Error('at least one connection is needed');
  if (options.seed < 1) throw new Error('at least one todo must be seeded (the id-based scenarios need them)');
  if (options.startupRuns < 1) options.startupRuns = 1;
  if (options.threads < 1) options.threads = 1;

  return { options, extraTargets: config.targets, configPath: config.path };
}
