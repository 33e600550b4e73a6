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
//   bare — bench/bare-server.mjs, plain node:http over an in-memory array (the runtime's ceiling).
// A target that cannot be built is kept with available: false and a note saying why.
//
// Extra targets can come from BENCH_CONFIG: { "targets": [ { "name": "x", "label": "…", "command":
// ["node", "server.js"], "env": { "PORT": "{port}" }, "cwd": "…" } ] } — "{port}" and "{dir}" (a fresh
// temp dir per start) are substituted in args and env values.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
 * The heap flags the container runs with: the Dockerfile's `ENV NODE_OPTIONS=…` is the one place they are set,
 * so the benchmark reads them from there and measures the service as it ships. BENCH_NODE_OPTIONS overrides.
 */
function productionNodeOptions(root) {
  if (process.env.BENCH_NODE_OPTIONS !== undefined) return process.env.BENCH_NODE_OPTIONS;
  try {
    const match = /ENV NODE_OPTIONS="([^"]*)"/.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    return match ? match[1] : '';
  } catch {
    return '';
  }
}

async function ours(root, { skipBuild, log }) {
  const target = { name: 'ours', label: 'ours (Fastify + SQLite)', available: false, note: '' };
  const bundle = join(root, 'dist', 'main.cjs');
  if (!skipBuild) {
    log('building ours: npm run build …');
    const { code, output } = await capture('npm', ['run', 'build'], root);
    if (code !== 0) {
      target.note = `npm run build failed (exit ${code}); skipped. Last output:\n${lastLines(output)}`;
      return target;
    }
  }
  if (!existsSync(bundle)) {
    target.note = `${bundle} does not exist${skipBuild ? ' (BENCH_SKIP_BUILD=1)' : ' after npm run build'}; skipped`;
    return target;
  }
  const nodeOptions = productionNodeOptions(root);
  target.note = `Node ${process.version}${nodeOptions ? `, NODE_OPTIONS="${nodeOptions}" (from the Dockerfile)` : ''}`;
  return {
    ...target,
    available: true,
    launch: ({ port, dir }) => ({
      command: process.execPath,
      args: [bundle],
      cwd: root,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: `sqlite:${join(dir, 'todos.db')}`,
        LOG_LEVEL: 'info',
        NODE_ENV: 'production',
        NODE_OPTIONS: nodeOptions,
      },
    }),
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
  const target = { name: 'ours-pg', label: 'ours (Fastify + PostgreSQL)', available: false, note: '' };
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
  const target = { name: `nginx-${replicas}`, label: `nginx + ${replicas} × ours (PostgreSQL)`, available: false, note: '' };
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

function bare(root) {
  const script = join(root, 'bench', 'bare-server.mjs');
  return {
    name: 'bare',
    label: 'bare node:http (in-memory)',
    available: true,
    note: '',
    launch: ({ port }) => ({
      command: process.execPath,
      args: [script],
      cwd: root,
      env: { PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production' },
    }),
  };
}

function fromConfig(spec) {
  if (!spec.name || !Array.isArray(spec.command) || spec.command.length === 0) {
    throw new Error(`BENCH_CONFIG target needs "name" and a non-empty "command" array: ${JSON.stringify(spec)}`);
  }
  const fill = (value, vars) => String(value).replaceAll('{port}', String(vars.port)).replaceAll('{dir}', vars.dir);
  return {
    name: spec.name,
    label: spec.label ?? spec.name,
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

/**
 * Builds the selected targets (in the order given) and returns their descriptions.
 * @param {{ root: string, names: string[], extra: object[], skipBuild: boolean, log: (msg: string) => void }} opts
 */
export async function prepareTargets({ root, names, extra, skipBuild, log }) {
  let oursTarget;
  let oursPgTarget;
  const oursOnce = async () => (oursTarget ??= await ours(root, { skipBuild, log }));
  const builders = {
    ours: oursOnce,
    'ours-pg': async () => (oursPgTarget ??= await oursPostgres(await oursOnce())),
    'nginx-1': async () => behindNginx(await builders['ours-pg'](), 1),
    'nginx-2': async () => behindNginx(await builders['ours-pg'](), 2),
    go: () => go(root, { log }),
    bare: () => bare(root),
  };
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
