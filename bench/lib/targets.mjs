// The benchmark targets and how to build and launch them:
//   ours — this project's production bundle (npm run build → dist/main.cjs) on the Node.js running the bench
//          (process.execPath: Node 24, the one runtime) with the lockfile's better-sqlite3, fresh SQLite file
//          per start;
//   ours-pg — the same bundle on PostgreSQL (BENCH_DATABASE_URL, else TEST_DATABASE_URL; skipped with a note
//          when neither is set), a fresh schema per start, dropped afterwards;
//   nginx-1, nginx-2 — nginx (installed: /usr/sbin/nginx) in front of one / two replicas of ours-pg sharing one
//          schema: what a second replica buys. Everything but PostgreSQL is pinned to the server core, so on a
//          2-core machine the replicas share one core (the numbers show the proxy's cost, not scaling);
//   go   — the Go/Gin reference (../shared/reference/go-gin-seed/build.sh), in-memory;
//   bare — bench/bare-server.mjs, plain node:http over an in-memory array (the runtime's ceiling);
//   floor — bench/fastify-floor.mjs, Fastify 5 answering the scenarios' routes with constants (the framework's
//          floor);
//   ours-bun, bare-bun, floor-bun — the same bundle and servers run by Bun (BENCH_BUN, else `bun` on PATH, else
//          the npm package @oven/bun-<platform>-<arch> under ~/.bun or /opt/bun); optional: a Bun target that
//          fails is reported, it does not fail the run;
//   ours-bun-compiled — the bundle compiled by Bun into one executable (bench/bun-compile.mjs), built into a
//          temp dir at each run.
// A target that cannot be built is kept with available: false and a note saying why. `ours: true` marks the
// targets that serve our service (their error counts are checked, lib/report.mjs).
//
// The layer run (`--layers`, LAYERS below) derives its rows from these targets.
//
// Extra targets can come from BENCH_CONFIG: { "targets": [ { "name": "x", "label": "…", "command":
// ["node", "server.js"], "env": { "PORT": "{port}" }, "cwd": "…" } ] } — "{port}" and "{dir}" (a fresh
// temp dir per start) are substituted in args and env values. A name starting with "ours" (or "ours": true)
// marks one of ours.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, startServer, stopServer } from './proc.mjs';

/** Runs a command, capturing its output; resolves { code, output }. */
function capture(command, args, cwd, env = {}) {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => done({ code: -1, output: output + err.message }));
    child.on('close', (code) => done({ code, output }));
  });
}

const lastLines = (text, n = 8) => text.trim().split('\n').slice(-n).join('\n');

/**
 * The heap flags and malloc arenas the container runs with: the Dockerfile's `ENV NODE_OPTIONS=… MALLOC_ARENA_MAX=…`
 * is the one place they are set, so the benchmark reads them from there and measures the service as it ships.
 * BENCH_NODE_OPTIONS overrides the flags.
 */
export function productionEnv(root) {
  let dockerfile = '';
  try {
    dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  } catch {
    // no Dockerfile: Node's defaults
  }
  const nodeOptions = process.env.BENCH_NODE_OPTIONS ?? /ENV NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1] ?? '';
  const arenas = /MALLOC_ARENA_MAX=(\d+)/.exec(dockerfile)?.[1];
  return { NODE_OPTIONS: nodeOptions, ...(arenas ? { MALLOC_ARENA_MAX: arenas } : {}) };
}

/**
 * The image starts from a module compile cache baked at build time (NODE_COMPILE_CACHE, the Dockerfile's
 * compile-cache stage): the same script fills one here, once per run, so `ours` on Node starts as it ships.
 */
async function primeCompileCache(root, bundle, { log, tempDir }) {
  const dir = tempDir('compile-cache');
  const { code, output } = await capture(process.execPath, [join(root, 'scripts', 'container', 'compile-cache.mjs'), join(bundle, '..', '..')], root, {
    ...productionEnv(root),
    NODE_COMPILE_CACHE: dir,
  });
  if (code !== 0) {
    log(`compile cache not primed (exit ${code}): ${lastLines(output, 3)}`);
    return undefined;
  }
  return dir;
}

/** Builds the bundle (npm run build) once; resolves { bundle } or { error }. */
async function buildBundle(root, { skipBuild, log }) {
  const bundle = join(root, 'dist', 'main.cjs');
  if (!skipBuild) {
    log('building ours: npm run build …');
    const { code, output } = await capture('npm', ['run', 'build'], root);
    if (code !== 0) return { error: `npm run build failed (exit ${code}); skipped. Last output:\n${lastLines(output)}` };
  }
  if (!existsSync(bundle)) return { error: `${bundle} does not exist${skipBuild ? ' (BENCH_SKIP_BUILD=1)' : ' after npm run build'}; skipped` };
  return { bundle };
}

/**
 * The environment of every start of ours: a fresh SQLite file, the shipped defaults of logging and metrics. No
 * shutdown delay: it only keeps a stopping server serving for load balancers (5 s by default), and the bench
 * stops ours dozens of times a run.
 */
const oursEnv = ({ port, dir, grpcPort }) => ({
  PORT: String(port),
  ...(grpcPort ? { GRPC_PORT: String(grpcPort) } : {}),
  HOST: '127.0.0.1',
  DATABASE_URL: `sqlite:${join(dir, 'todos.db')}`,
  LOG_LEVEL: 'info',
  METRICS_ENABLED: 'true',
  NODE_ENV: 'production',
  SHUTDOWN_DELAY_MS: '0',
});

/** Our bundle on a runtime: Node (with the container's heap flags) or Bun. */
function ours(root, runtime, built, compileCache) {
  const onBun = runtime.name === 'bun';
  const target = {
    name: onBun ? 'ours-bun' : 'ours',
    label: onBun ? 'ours on Bun (Fastify + SQLite)' : 'ours (Fastify + SQLite)',
    runtime: runtime.name,
    ours: true,
    grpc: !onBun, // the gRPC scenario runs on Node's ours (Bun's node:http2 server is not what we ship)
    required: !onBun, // the shipped service must always run
    optional: onBun,
    available: false,
    note: '',
  };
  if (built.error) return { ...target, note: built.error };
  if (!runtime.available) return { ...target, note: runtime.note };
  // The heap flags are V8's and the compile cache Node's: Bun (JavaScriptCore) runs without them.
  const env = onBun ? { NODE_OPTIONS: '' } : { ...productionEnv(root), ...(compileCache ? { NODE_COMPILE_CACHE: compileCache } : {}) };
  return {
    ...target,
    available: true,
    note: `${runtime.version}${env.NODE_OPTIONS ? `, NODE_OPTIONS="${env.NODE_OPTIONS}"` : ''}${env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX}` : ''}${onBun ? '' : ' (from the Dockerfile)'}${env.NODE_COMPILE_CACHE ? ', compile cache primed' : ''}`,
    launch: (vars) => ({ command: runtime.command, args: [built.bundle], cwd: root, env: { ...oursEnv(vars), ...env } }),
  };
}

/**
 * Our bundle compiled by Bun into one executable (bench/bun-compile.mjs embeds the SQLite addon), started with the
 * same environment as ours-bun. Built into a temp dir (`tempDir`, removed when the bench ends) at each run.
 */
async function oursCompiled(root, bun, built, { log, tempDir }) {
  const target = { name: 'ours-bun-compiled', label: 'ours compiled by Bun (one executable)', runtime: 'bun', ours: true, optional: true, available: false, note: '' };
  if (built.error) return { ...target, note: built.error };
  if (!bun.available) return { ...target, note: bun.note };
  const executable = join(tempDir('bun-compiled'), 'todo-service');
  log(`building ours-bun-compiled: bun build --compile ${built.bundle} …`);
  const t0 = performance.now();
  const { code, output } = await capture(bun.command, [join(root, 'bench', 'bun-compile.mjs'), built.bundle, executable], root);
  if (code !== 0 || !existsSync(executable)) return { ...target, note: `bun build --compile failed (exit ${code}): ${lastLines(output, 3).replaceAll('\n', ' | ')}` };
  const sizeMb = statSync(executable).size / 1024 / 1024;
  return {
    ...target,
    available: true,
    note: `${bun.version}; ${sizeMb.toFixed(0)} MB executable, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    launch: (vars) => ({ command: executable, args: [], cwd: root, env: { ...oursEnv(vars), NODE_OPTIONS: '' } }),
  };
}

async function go(root, { log }) {
  const target = { name: 'go', label: 'Go/Gin reference', available: false, note: '' };
  const dir = resolve(root, '..', 'shared', 'reference', 'go-gin-seed');
  const script = join(dir, 'build.sh');
  if (!existsSync(script)) {
    target.note = `no Go reference at ${dir}; skipped`;
    return target;
  }
  log(`building go: ${script} …`);
  const { code, output } = await capture('bash', [script], dir);
  const binary = output.trim().split('\n').at(-1)?.trim();
  if (code !== 0 || !binary) {
    target.note = `build.sh failed (exit ${code}); skipped. Last output:\n${lastLines(output)}`;
    return target;
  }
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    target.note = `build.sh did not produce an executable (last line: ${binary}); skipped`;
    return target;
  }
  return {
    ...target,
    available: true,
    binary,
    // cwd = a fresh temp dir, so that godotenv finds no stray .env file.
    launch: ({ port, dir: tmp }) => ({
      command: binary,
      args: [],
      cwd: tmp,
      env: { PORT: String(port), GIN_MODE: 'release', GOMAXPROCS: '1' },
    }),
  };
}

/** Our bundle on PostgreSQL: each launch gets a fresh schema (search_path in the URL), dropped afterwards. */
async function oursPostgres(oursTarget) {
  const target = { name: 'ours-pg', label: 'ours (Fastify + PostgreSQL)', ours: true, available: false, note: '' };
  const url = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  if (!oursTarget.available) return { ...target, note: 'needs the ours bundle, which is not available' };
  if (!url) return { ...target, note: 'set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL database to include it' };
  const { default: pg } = await import('pg');
  const admin = async (sql) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  try {
    await admin('SELECT 1');
  } catch (err) {
    return { ...target, note: `PostgreSQL at ${new URL(url).host} does not answer (${err.message}); skipped` };
  }
  let n = 0;
  return {
    ...target,
    available: true,
    otherCpuIsOwn: true,
    note: `${oursTarget.note ? `${oursTarget.note}; ` : ''}PostgreSQL at ${new URL(url).host}, not pinned: its CPU shows as "other CPU %"`,
    launch: async (vars) => {
      const schema = `bench_${process.pid}_${++n}`;
      await admin(`CREATE SCHEMA ${schema}`);
      const withSchema = new URL(url);
      withSchema.searchParams.set('options', `-c search_path=${schema}`);
      const spec = oursTarget.launch(vars);
      return {
        ...spec,
        env: { ...spec.env, DATABASE_URL: withSchema.toString() },
        cleanup: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
      };
    },
  };
}

const NGINX = '/usr/sbin/nginx';

/** nginx in front of `replicas` instances of ours-pg (one schema for all of them). */
function behindNginx(oursPg, replicas) {
  const target = { name: `nginx-${replicas}`, label: `nginx + ${replicas} × ours (PostgreSQL)`, ours: true, available: false, note: '' };
  if (!oursPg.available) return { ...target, note: `needs ours-pg: ${oursPg.note}` };
  if (!existsSync(NGINX)) return { ...target, note: `nginx is not installed (${NGINX}; apt-get install nginx-light)` };
  return {
    ...target,
    available: true,
    otherCpuIsOwn: true,
    note: `CPU %, RSS and start-up are nginx's own; the replicas' CPU and PostgreSQL's show as "other CPU %"`,
    launch: async ({ port, dir }) => {
      const first = await oursPg.launch({ port: await freePort(), dir });
      const started = [];
      const stopAll = async () => {
        for (const s of started) await stopServer(s);
        await first.cleanup();
      };
      try {
        for (let i = 0; i < replicas; i++) {
          const replicaPort = i === 0 ? Number(first.env.PORT) : await freePort();
          const spec = { ...first, env: { ...first.env, PORT: String(replicaPort) } };
          started.push(await startServer({ ...spec, port: replicaPort, logFile: join(dir, `replica-${i}.log`) }));
        }
      } catch (err) {
        await stopAll();
        throw err;
      }
      const temp = join(dir, 'nginx');
      mkdirSync(temp, { recursive: true });
      const conf = join(dir, 'nginx.conf');
      writeFileSync(
        conf,
        [
          'master_process off;', // one process serves: its CPU and RSS are what the report shows
          'worker_processes 1;',
          process.getuid?.() === 0 ? 'user root;' : '',
          `pid ${join(dir, 'nginx.pid')};`,
          `error_log ${join(dir, 'nginx-error.log')} warn;`,
          'events { worker_connections 4096; }',
          'http {',
          '  access_log off;',
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(temp, t)};`),
          `  upstream api { ${started.map((s) => `server ${new URL(s.base).host};`).join(' ')} keepalive 64; }`,
          `  server { listen 127.0.0.1:${port};`,
          '    location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection ""; } }',
          '}',
        ].join('\n'),
      );
      return { command: NGINX, args: ['-c', conf, '-g', 'daemon off;'], cwd: dir, env: {}, cleanup: stopAll };
    },
  };
}

/** A server script of bench/ (bare-server.mjs, fastify-floor.mjs) on a runtime. */
function script(root, runtime, { name, label, file }) {
  const onBun = runtime.name === 'bun';
  const target = { name: onBun ? `${name}-bun` : name, label: onBun ? `${label} on Bun` : label, runtime: runtime.name, optional: onBun, available: false, note: '' };
  if (!runtime.available) return { ...target, note: runtime.note };
  return {
    ...target,
    available: true,
    note: onBun ? runtime.version : '',
    launch: ({ port }) => ({
      command: runtime.command,
      args: [join(root, 'bench', file)],
      cwd: root,
      env: { PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    }),
  };
}

const bare = (root, runtime) => script(root, runtime, { name: 'bare', label: 'bare node:http (in-memory)', file: 'bare-server.mjs' });
const floor = (root, runtime) => script(root, runtime, { name: 'floor', label: 'Fastify floor (constant answers)', file: 'fastify-floor.mjs' });

/** Where Bun may be: BENCH_BUN, `bun` on PATH, the official installer's ~/.bun, the npm package under /opt/bun. */
function bunCandidates() {
  if (process.env.BENCH_BUN) return [process.env.BENCH_BUN];
  const npmPackage = join('node_modules', '@oven', `bun-${process.platform}-${process.arch}`, 'bin', 'bun');
  return ['bun', join(os.homedir(), '.bun', 'bin', 'bun'), join('/opt/bun', npmPackage)];
}

/** The runtimes the servers run on: node (this very process's, Node 24) and bun when one is found. */
async function findRuntimes() {
  const node = { name: 'node', available: true, command: process.execPath, version: `Node ${process.version}` };
  const tried = bunCandidates();
  for (const command of tried) {
    const { code, output } = await capture(command, ['--version'], process.cwd());
    if (code === 0) return { node, bun: { name: 'bun', available: true, command, version: `Bun ${output.trim()}` } };
  }
  return { node, bun: { name: 'bun', available: false, note: `Bun not found (tried ${tried.join(', ')}; set BENCH_BUN to its binary)` } };
}

function fromConfig(spec) {
  if (!spec.name || !Array.isArray(spec.command) || spec.command.length === 0) {
    throw new Error(`BENCH_CONFIG target needs "name" and a non-empty "command" array: ${JSON.stringify(spec)}`);
  }
  const fill = (value, vars) => String(value).replaceAll('{port}', String(vars.port)).replaceAll('{dir}', vars.dir);
  return {
    name: spec.name,
    label: spec.label ?? spec.name,
    ours: spec.ours ?? spec.name.startsWith('ours'),
    available: true,
    note: '',
    launch: (vars) => ({
      command: fill(spec.command[0], vars),
      args: spec.command.slice(1).map((a) => fill(a, vars)),
      cwd: spec.cwd ? fill(spec.cwd, vars) : vars.dir,
      env: Object.fromEntries(Object.entries(spec.env ?? { PORT: '{port}' }).map(([k, v]) => [k, fill(v, vars)])),
    }),
  };
}

/** A copy of a target whose launches add `env` to the environment. */
export function withEnv(target, name, label, env) {
  return {
    ...target,
    name,
    label,
    launch: async (vars) => {
      const spec = await target.launch(vars);
      return { ...spec, env: { ...spec.env, ...env } };
    },
  };
}

/**
 * The target builders by name, each run at most once. `tempDir(prefix)` makes a directory that is removed when
 * the bench ends.
 */
function targetBuilders({ root, skipBuild, log, tempDir }) {
  const once = (build) => {
    let promise;
    return () => (promise ??= build());
  };
  const runtimes = once(findRuntimes);
  const built = once(() => buildBundle(root, { skipBuild, log }));
  const builders = {
    ours: once(async () => {
      const bundle = await built();
      return ours(root, (await runtimes()).node, bundle, bundle.error ? undefined : await primeCompileCache(root, bundle.bundle, { log, tempDir }));
    }),
    'ours-pg': once(async () => oursPostgres(await builders.ours())),
    'nginx-1': once(async () => behindNginx(await builders['ours-pg'](), 1)),
    'nginx-2': once(async () => behindNginx(await builders['ours-pg'](), 2)),
    go: once(() => go(root, { log })),
    bare: once(async () => bare(root, (await runtimes()).node)),
    floor: once(async () => floor(root, (await runtimes()).node)),
    'ours-bun': once(async () => ours(root, (await runtimes()).bun, await built())),
    'bare-bun': once(async () => bare(root, (await runtimes()).bun)),
    'floor-bun': once(async () => floor(root, (await runtimes()).bun)),
    'ours-bun-compiled': once(async () => oursCompiled(root, (await runtimes()).bun, await built(), { log, tempDir })),
  };
  return { builders, runtimes };
}

/**
 * Builds the selected targets (in the order given) and returns their descriptions.
 * @param {{ root: string, names: string[], extra: object[], skipBuild: boolean, log: (msg: string) => void, tempDir: (prefix: string) => string }} opts
 */
export async function prepareTargets({ root, names, extra, skipBuild, log, tempDir }) {
  const { builders } = targetBuilders({ root, skipBuild, log, tempDir });
  const extras = new Map(extra.map((spec) => [spec.name, spec]));
  // Extra targets from the config file always run (after the named ones, unless named themselves).
  const wanted = [...names, ...[...extras.keys()].filter((n) => !names.includes(n) && !builders[n])];
  const targets = [];
  for (const name of wanted) {
    if (extras.has(name)) targets.push(fromConfig(extras.get(name)));
    else if (builders[name]) targets.push(await builders[name]());
    else throw new Error(`unknown target "${name}" (known: ${Object.keys(builders).join(', ')}${extras.size ? ', ' + [...extras.keys()].join(', ') : ''})`);
  }
  return targets;
}

/**
 * The rows of the layer run, per runtime: from the runtime's bare HTTP server up to our service as it ships. Our
 * service's layers are one bundle with parts switched off by its own configuration (src/config.ts):
 * LOG_LEVEL=silent writes no log line, METRICS_ENABLED=false keeps no metric (tracing is off: no OTLP endpoint).
 * `over` names the row whose cost a row adds to: the chain bare → floor → storage → logging → shipped adds up,
 * and "+ metrics" (without logging) is read against storage only. `base` names the target (per runtime).
 */
export const LAYERS = [
  { id: 'bare', label: 'bare HTTP server', base: { node: 'bare', bun: 'bare-bun' } },
  { id: 'floor', label: 'Fastify floor', base: { node: 'floor', bun: 'floor-bun' }, over: 'bare' },
  { id: 'storage', label: 'ours: storage only', base: { node: 'ours', bun: 'ours-bun' }, env: { LOG_LEVEL: 'silent', METRICS_ENABLED: 'false' }, over: 'floor' },
  { id: 'logging', label: '+ logging', base: { node: 'ours', bun: 'ours-bun' }, env: { LOG_LEVEL: 'info', METRICS_ENABLED: 'false' }, over: 'storage' },
  { id: 'metrics', label: '+ metrics (no logging)', base: { node: 'ours', bun: 'ours-bun' }, env: { LOG_LEVEL: 'silent', METRICS_ENABLED: 'true' }, over: 'storage' },
  { id: 'shipped', label: 'as shipped (logging + metrics)', base: { node: 'ours', bun: 'ours-bun' }, env: { LOG_LEVEL: 'info', METRICS_ENABLED: 'true' }, over: 'logging' },
  { id: 'compiled', label: 'as shipped, one executable', base: { bun: 'ours-bun-compiled' }, env: { LOG_LEVEL: 'info', METRICS_ENABLED: 'true' }, over: 'shipped' },
];

/**
 * The layer run's rows (targets named `<runtime>-<layer>`, with `runtime`, `layer` and `over` set), runtime by
 * runtime in LAYERS order, then the Go reference (`reference: true`) when `withGo`.
 */
export async function prepareLayers({ root, runtimes: wantedRuntimes, withGo, skipBuild, log, tempDir }) {
  const { builders, runtimes } = targetBuilders({ root, skipBuild, log, tempDir });
  const found = await runtimes();
  const rows = [];
  for (const runtime of wantedRuntimes) {
    if (!found[runtime]) throw new Error(`unknown runtime "${runtime}" (known: ${Object.keys(found).join(', ')})`);
    for (const layer of LAYERS.filter((l) => l.base[runtime])) {
      const base = await builders[layer.base[runtime]]();
      const name = `${runtime}-${layer.id}`;
      const row = layer.env ? withEnv(base, name, layer.label, layer.env) : { ...base, name, label: layer.label };
      rows.push({ ...row, runtime, runtimeVersion: found[runtime].version ?? found[runtime].note, layer: layer.id, over: layer.over && `${runtime}-${layer.over}` });
    }
  }
  if (withGo) rows.push({ ...(await builders.go()), runtime: 'go', layer: 'reference', reference: true });
  return rows;
}
