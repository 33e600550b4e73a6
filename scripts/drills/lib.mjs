// What every fault drill is made of: a temporary folder, child processes that die with the drill, the service
// (dist/main.cjs) on loopback ports, a PostgreSQL cluster and a Redis server of the drill's own (never the
// machine's shared ones, which other tests use), nginx in front of replicas, a load of clients whose acknowledged
// writes are remembered, and the audit of those writes against the database.
//
// A drill is `await drill('name', async (d) => { … })`: it stops by itself after its hard limit, kills what it
// started, prints its checks and one summary line, and exits 0 only when every check passed. With DRILLS_REPORT
// set, it appends its figures as one JSON line to that file (scripts/drills/run.mjs builds the README table).
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };
export const root = new URL('../..', import.meta.url).pathname;
export const isRoot = process.getuid?.() === 0;
/** `--short` (or DRILLS_SHORT=1): the form CI runs. */
export const short = process.argv.includes('--short') || process.env.DRILLS_SHORT === '1';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Polls fn until it returns truthy; throws after timeoutMs. Returns how long it took (ms). */
export async function waitFor(what, fn, timeoutMs = 20_000, everyMs = 50) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    try {
      if (await fn()) return Date.now() - t0;
    } catch {
      // not yet
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : (n ?? '—'));

// ---- the drill -----------------------------------------------------------------------------------------------

export async function drill(name, body, { hardLimitMs = 600_000 } = {}) {
  const d = new Drill(name);
  const hardStop = setTimeout(() => {
    d.check(`finishes within ${hardLimitMs / 1000} s`, false);
    void d.cleanup().then(() => d.exit());
  }, hardLimitMs);
  hardStop.unref();
  // Ctrl-C or a SIGTERM stops the drill, not just this process: what it started goes with it
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      d.check(`not interrupted (${signal})`, false);
      void d.cleanup().then(() => d.exit());
    });
  }
  try {
    await body(d);
  } catch (error) {
    d.check('the drill runs', false, error.stack ?? String(error));
    console.log(`   logs in ${d.work} (DRILLS_KEEP=1 keeps them)`);
  } finally {
    clearTimeout(hardStop);
    await d.cleanup();
  }
  d.exit();
}

class Drill {
  constructor(name) {
    this.name = name;
    this.work = mkdtempSync(join(tmpdir(), `todo-drill-${name}-`));
    chmodSync(this.work, 0o755); // nginx workers and PostgreSQL run as other users when the drill runs as root
    this.children = new Set();
    this.cleanups = [];
    this.failed = [];
    this.passed = 0;
    this.figures = undefined;
    console.log(`== drill ${name}${short ? ' (short form)' : ''}`);
  }

  log(line) {
    console.log(`   ${line}`);
  }

  check(what, ok, detail = '') {
    if (ok) this.passed++;
    else this.failed.push(what);
    console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${what}${detail ? ` — ${detail}` : ''}`);
    return ok;
  }

  /** A child process that the drill kills at its end; its output goes to <work>/<name>.log. */
  spawn(name, command, args, { env = {}, cwd = root } = {}) {
    const out = openSync(join(this.work, `${name}.log`), 'a');
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
    child.label = name;
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  /**
   * The drill's figures, for the summary line and the README table: load, seconds, requests, failed,
   * acknowledged, lost, duplicates, recoveryMs, and anything else worth a word (extra).
   */
  report(figures) {
    this.figures = figures;
  }

  async cleanup() {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const child of this.children) child.kill('SIGTERM');
    await Promise.race([Promise.all([...this.children].map((c) => c.exited)), sleep(8000)]);
    for (const child of this.children) child.kill('SIGKILL');
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        console.log(`   note: cleanup: ${error.message}`);
      }
    }
    if (process.env.DRILLS_KEEP === '1') console.log(`   (kept ${this.work})`);
    else rmSync(this.work, { recursive: true, force: true });
  }

  exit() {
    const ok = this.failed.length === 0;
    const f = this.figures;
    const parts = f
      ? [
          f.load,
          `${f.seconds} s`,
          `${fmt(f.requests)} requests`,
          `${fmt(f.failed)} failed`,
          `${fmt(f.acknowledged)} acknowledged writes`,
          f.lost === undefined ? undefined : `${fmt(f.lost)} lost`,
          f.duplicates === undefined ? undefined : `${fmt(f.duplicates)} duplicates`,
          f.recoveryMs === undefined ? undefined : `recovery ${(f.recoveryMs / 1000).toFixed(2)} s`,
          f.extra,
        ].filter(Boolean)
      : [];
    console.log(`drill ${this.name}: ${ok ? 'PASS' : 'FAIL'}${parts.length ? ` — ${parts.join(', ')}` : ''}` +
      `${ok ? '' : ` (failed: ${this.failed.join('; ')})`}`);
    if (process.env.DRILLS_REPORT) {
      appendFileSync(process.env.DRILLS_REPORT, `${JSON.stringify({ drill: this.name, short, ok, ...f })}\n`);
    }
    process.exit(ok ? 0 : 1);
  }
}

// ---- the service ---------------------------------------------------------------------------------------------

/** One replica of the service (the built bundle) on loopback ports of its own; start() waits for /readyz. */
export class Service {
  constructor(d, name, env) {
    this.d = d;
    this.name = name;
    this.env = env;
  }

  async start({ ready = true, timeoutMs = 30_000 } = {}) {
    this.port ??= await freePort();
    this.mport ??= await freePort();
    this.grpcPort ??= await freePort();
    this.child = this.d.spawn(`service-${this.name}`, process.execPath, ['dist/main.cjs'], {
      env: {
        HOST: '127.0.0.1',
        PORT: String(this.port),
        MANAGEMENT_PORT: String(this.mport),
        GRPC_PORT: String(this.grpcPort),
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        SHUTDOWN_DELAY_MS: '0',
        ...this.env,
      },
    });
    if (ready) await waitFor(`${this.name} /readyz`, async () => (await get(`${this.managementUrl}/readyz`)).ok, timeoutMs);
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get managementUrl() {
    return `http://127.0.0.1:${this.mport}`;
  }

  kill9() {
    this.child.kill('SIGKILL');
    return this.child.exited;
  }

  /** The process's resident set, from /proc. */
  rssBytes() {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
  }
}

export const get = (url, init = {}) => fetch(url, { signal: AbortSignal.timeout(2000), ...init });

// ---- PostgreSQL ----------------------------------------------------------------------------------------------

function postgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin/postgres'))) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)');
  return join(base, versions.sort((a, b) => Number(a) - Number(b)).at(-1), 'bin');
}

/**
 * A PostgreSQL cluster of the drill's own, in its temporary folder, from the machine's PostgreSQL binaries. As root
 * it runs as the `postgres` user (the server refuses root). kill9() kills the postmaster the way the OOM killer
 * would; start() again runs crash recovery.
 */
export class PostgresCluster {
  constructor(d) {
    this.d = d;
    this.dir = join(d.work, 'pgdata');
    this.bin = postgresBin();
  }

  /** [command, argv] that run one of the server's binaries, as `postgres` when the drill runs as root. */
  run(command, args) {
    return isRoot ? ['runuser', ['-u', 'postgres', '--', join(this.bin, command), ...args]] : [join(this.bin, command), args];
  }

  async init() {
    this.port = await freePort();
    mkdirSync(this.dir, { mode: 0o700 });
    if (isRoot) chownSync(this.dir, uid('postgres'), gid('postgres'));
    const [cmd, argv] = this.run('initdb', ['-D', this.dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    execFileSync(cmd, argv, { stdio: 'pipe' });
    // the server's defaults: fsync on, synchronous_commit on (a commit is acknowledged once its WAL is on disk)
    appendFileSync(join(this.dir, 'postgresql.conf'),
      `\nlisten_addresses = '127.0.0.1'\nport = ${this.port}\nunix_socket_directories = '${this.dir}'\n` +
      `max_connections = 50\nshared_buffers = 32MB\nlogging_collector = off\n`);
    this.d.onCleanup(() => this.kill9());
    return this;
  }

  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start() {
    const [cmd, argv] = this.run('postgres', ['-D', this.dir]);
    this.child = this.d.spawn('postgres', cmd, argv);
    await waitFor('PostgreSQL to accept connections', () => this.accepts(), 30_000);
    return this;
  }

  async accepts() {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** kill -9 of the postmaster (its pid from postmaster.pid; under runuser the child is not the postmaster). */
  async kill9() {
    const pidFile = join(this.dir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return; // gone already
    }
    // the backends exit when they see their postmaster die; the next start needs them gone
    await waitFor('the PostgreSQL backends to exit', () => !postgresProcessesOf(pid), 15_000).catch(() => undefined);
  }

  async query(sql, params = []) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  }
}

/** Whether the postmaster or any of its children (the backends) still runs. */
function postgresProcessesOf(postmasterPid) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(entry) === postmasterPid) return true;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmasterPid) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

const uid = (user) => Number(execFileSync('id', ['-u', user]).toString());
const gid = (user) => Number(execFileSync('id', ['-g', user]).toString());

// ---- Redis ---------------------------------------------------------------------------------------------------

/** A redis-server of the drill's own; `persist` keeps an append-only file, so a restart brings old data back. */
export class RedisServer {
  constructor(d, { persist = false } = {}) {
    this.d = d;
    this.persist = persist;
    this.dir = join(d.work, 'redis');
  }

  async start() {
    this.port ??= await freePort();
    mkdirSync(this.dir, { recursive: true });
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push(...(this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    this.child = this.d.spawn('redis', process.env.REDIS_SERVER ?? 'redis-server', args);
    await waitFor('Redis to answer PING', () => this.cli('PING') === 'PONG', 10_000);
    return this;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  cli(...args) {
    return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args], { stdio: 'pipe' }).toString().trim();
  }

  kill9() {
    this.child.kill('SIGKILL');
    return this.child.exited;
  }
}

// ---- nginx ---------------------------------------------------------------------------------------------------

/**
 * nginx in front of replicas, with the proxy settings of deploy/nginx/nginx.conf (the upstream as static loopback
 * servers, no rate limits: the drills' clients all come from one address).
 */
export class Nginx {
  constructor(d, replicas) {
    this.d = d;
    this.replicas = replicas;
    this.bin = process.env.NGINX ?? '/usr/sbin/nginx';
  }

  conf() {
    const w = this.d.work;
    const temp = join(w, 'nginx-temp');
    mkdirSync(temp, { recursive: true });
    chmodSync(temp, 0o777);
    const deployed = readFileSync(join(root, 'deploy/nginx/nginx.conf'), 'utf8');
    const next = /^\s*proxy_next_upstream\s+([^;]+);/m.exec(deployed)?.[1] ?? 'error timeout';
    return `
worker_processes 1;
error_log ${w}/nginx-error.log warn;
pid ${w}/nginx.pid;
${isRoot ? 'user nobody nogroup;' : ''}
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp}/body; proxy_temp_path ${temp}/proxy; fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi; scgi_temp_path ${temp}/scgi;
  upstream todo_api {
${this.replicas.map((r) => `    server 127.0.0.1:${r.port} max_fails=3 fail_timeout=5s;`).join('\n')}
    keepalive 32;
    keepalive_timeout 1s;
  }
  server {
    listen 127.0.0.1:${this.port};
    location / {
      proxy_pass http://todo_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_connect_timeout 2s;
      proxy_read_timeout 15s;
      proxy_next_upstream ${next};
      proxy_next_upstream_tries 2;
      proxy_next_upstream_timeout 10s;
    }
  }
}
`;
  }

  async start() {
    this.port = await freePort();
    const conf = join(this.d.work, 'nginx.conf');
    writeFileSync(conf, this.conf());
    this.d.spawn('nginx', this.bin, ['-p', this.d.work, '-c', conf, '-g', 'daemon off;']);
    await waitFor('nginx', async () => (await get(`${this.url}/health`)).ok);
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
}

// ---- load ----------------------------------------------------------------------------------------------------

/**
 * Clients that create, read, update and list todos in a loop. Each client owns the todos it creates (titles
 * `<tag> <client>-<n>`, unique), so the last update it saw acknowledged is the value the database must hold. Every
 * acknowledged write is remembered for audit(). With `retry`, a request that fails (network error, 502/503/504) is
 * sent again, POSTs with the same Idempotency-Key, until it succeeds or `retryForMs` passes: the client a careful
 * user writes.
 */
export class Load {
  constructor({ urls, clients = 16, tag = 'drill', retry = false, retryForMs = 45_000, ratePerSecond, mix = 'mixed', timeoutMs = 10_000 }) {
    this.urls = urls;
    this.clients = clients;
    this.tag = tag;
    this.retry = retry;
    this.retryForMs = retryForMs;
    this.ratePerSecond = ratePerSecond;
    this.mix = mix;
    this.timeoutMs = timeoutMs;
    this.todos = new Map(); // title → { id, acked: description value last acknowledged, pending: Set of values sent but not acknowledged }
    this.requests = 0;
    this.retries = 0;
    this.byStatus = new Map();
    this.failures = []; // { at, method, path, status }
    this.latencies = [];
    this.running = false;
  }

  start() {
    this.running = true;
    this.startedAt = Date.now();
    this.workers = Array.from({ length: this.clients }, (_, i) => this.client(i));
    return this;
  }

  async stop() {
    this.running = false;
    await Promise.all(this.workers);
    this.seconds = (Date.now() - this.startedAt) / 1000;
    return this;
  }

  get acknowledged() {
    let n = 0;
    for (const t of this.todos.values()) n += (t.id === undefined ? 0 : 1) + t.updates;
    return n;
  }

  /** Failures since a moment (ms epoch). */
  failedSince(at) {
    return this.failures.filter((f) => f.at >= at);
  }

  async send(method, path, body, headers = {}) {
    const url = this.urls[this.requests % this.urls.length] + path;
    const t0 = performance.now();
    let status;
    let json;
    let retryAfter;
    try {
      const res = await fetch(url, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      retryAfter = Number(res.headers.get('retry-after'));
      json = await res.json().catch(() => undefined);
    } catch (error) {
      status = `network error: ${error.cause?.code ?? error.name}`;
    }
    this.requests++;
    this.latencies.push(performance.now() - t0);
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    return { status, json, retryAfter };
  }

  /** One logical request: sent once, or with `retry` until it is answered by something other than a failure. */
  async call(method, path, body, expect, headers) {
    const deadline = Date.now() + this.retryForMs;
    for (;;) {
      const res = await this.send(method, path, body, headers);
      if (expect.includes(res.status)) return res;
      // a network error or a gateway/unavailable status; and 409 "request in progress": the first request with this
      // Idempotency-Key holds it until it answers, or, if its replica died, until its lease runs out
      const retriable = typeof res.status === 'string' || [502, 503, 504].includes(res.status) ||
        (res.status === 409 && res.json?.type === 'urn:todo-service:problem:request-in-progress');
      if (this.retry && retriable && Date.now() < deadline) {
        this.retries++;
        await sleep(Math.min(1000, (res.retryAfter || 0.1) * 1000) * (0.5 + Math.random()));
        continue;
      }
      this.failures.push({ at: Date.now(), method, path, status: res.status, detail: res.json?.detail ?? res.json?.error });
      return res;
    }
  }

  async client(c) {
    const mine = [];
    let n = 0;
    let next;
    while (this.running) {
      const tick = Date.now();
      n++;
      const op = this.mix === 'writes' ? (n % 4 === 0 ? 'update' : 'create') : ['create', 'read', 'update', 'list'][n % 4];
      if (op === 'create' || mine.length === 0) {
        const title = `${this.tag} ${c}-${n}`;
        const todo = { id: undefined, acked: '', pending: new Set(), updates: 0 };
        this.todos.set(title, todo);
        const key = `${this.tag}-${c}-${n}-${process.pid}`;
        const res = await this.call('POST', '/api/todos', { title }, [201], { 'idempotency-key': key });
        if (res.status === 201) {
          todo.id = res.json.todo.id;
          mine.push(title);
        } else todo.unacknowledged = true; // may or may not exist: the audit allows either, never twice
      } else if (op === 'read') {
        const todo = this.todos.get(mine[n % mine.length]);
        await this.call('GET', `/api/todos/${todo.id}`, undefined, [200]);
      } else if (op === 'update') {
        const todo = this.todos.get(mine[n % mine.length]);
        const value = `v${n}`;
        todo.pending.add(value);
        const res = await this.call('PATCH', `/api/todos/${todo.id}`, { description: value }, [200]);
        if (res.status === 200) {
          todo.acked = value;
          todo.pending.clear();
          todo.updates++;
        }
      } else {
        await this.call('GET', '/api/todos?page=1&limit=10', undefined, [200]);
      }
      if (this.ratePerSecond) {
        // a schedule, not a pause: a client behind it (a slow answer) catches up, so the rate asked is the rate sent
        // (at most a second of it: after a stall the schedule starts again rather than storming)
        next = Math.max((next ?? tick) + (1000 * this.clients) / this.ratePerSecond, Date.now() - 1000);
        if (next > Date.now()) await sleep(next - Date.now());
      }
    }
  }

  /**
   * Compares the remembered writes with the rows of the database (title, id, description) whose title carries this
   * load's tag: lost = an acknowledged create missing (or under another id) or an acknowledged update overwritten
   * by an older value; duplicates = a title stored more than once.
   */
  audit(rows) {
    const byTitle = new Map();
    for (const row of rows) {
      if (!row.title.startsWith(`${this.tag} `)) continue;
      const list = byTitle.get(row.title) ?? [];
      list.push(row);
      byTitle.set(row.title, list);
    }
    let lost = 0;
    let duplicates = 0;
    const examples = [];
    for (const [title, list] of byTitle) if (list.length > 1) {
      duplicates += list.length - 1;
      examples.push(`${title} stored ${list.length} times`);
    }
    for (const [title, todo] of this.todos) {
      const row = byTitle.get(title)?.[0];
      if (todo.id === undefined) continue; // never acknowledged
      if (!row || Number(row.id) !== Number(todo.id)) {
        lost++;
        examples.push(`${title} (#${todo.id}) missing`);
      } else if (row.description !== todo.acked && !todo.pending.has(row.description)) {
        lost++;
        examples.push(`${title}: description ${JSON.stringify(row.description)}, acknowledged ${JSON.stringify(todo.acked)}`);
      }
    }
    return { lost, duplicates, examples: examples.slice(0, 5) };
  }

  summary() {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const p = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(1);
    const statuses = [...this.byStatus].map(([s, n]) => `${s}: ${fmt(n)}`).join(', ');
    return `${fmt(this.requests)} requests (${statuses}), ${fmt(this.retries)} retried; p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`;
  }
}

/** Several loads audited against the same rows, added up: the figures d.report() takes, and examples of what failed. */
export function auditLoads(loads, rows) {
  const audits = loads.map((load) => load.audit(rows));
  const sum = (f) => loads.reduce((n, load, i) => n + f(load, audits[i]), 0);
  return {
    requests: sum((l) => l.requests),
    failed: sum((l) => l.failures.length),
    acknowledged: sum((l) => l.acknowledged),
    lost: sum((_, a) => a.lost),
    duplicates: sum((_, a) => a.duplicates),
    examples: audits.flatMap((a) => a.examples).slice(0, 5),
  };
}
