// The production topology without containers, on loopback, as an end-to-end test:
//
//   clients ──▶ nginx ──▶ replica A (node dist/main.cjs, 127.0.0.1)  ──▶ PostgreSQL (127.0.0.1:5432, fresh db)
//                    └──▶ replica B                                 ──▶ Redis (127.0.0.1:6379)
//   Prometheus ──scrapes──▶ A and B on their management ports
//
// Load runs through nginx the whole time (creates, reads, lists, updates); meanwhile the replicas are replaced one
// at a time, the way a rolling deployment does it (Kubernetes takes a pod out of the Service's endpoints while it
// sends SIGTERM; here nginx's upstream is the endpoint list):
//   1. mark the replica `down` in nginx's upstream, reload nginx, wait until every worker of the old
//      configuration has exited (they finish their in-flight requests first; the new workers never pick it)
//   2. SIGTERM: the replica must exit 0 (its own graceful shutdown, SHUTDOWN_DELAY_MS then drain)
//   3. start it again on the same port, wait for its /readyz
//   4. put it back into the upstream, reload, wait for the old workers again; then the next replica.
// nginx OSS has no active health checks: without step 1 it keeps sending to a replica that got SIGTERM, and the
// connections still in that replica's accept backlog when it closes its listener are reset — which nginx may
// not retry for a POST (retries are for idempotent requests only, as they must be).
// Passes when no request failed (no network error, no 5xx, no unexpected status), every POST answered 201 is
// readable afterwards, and Prometheus saw both replicas up.
//
// Run by scripts/e2e/rolling-restart.sh (npm run test:e2e), which installs nginx/Prometheus when missing and builds.
// Env: E2E_DB=postgres (default) | sqlite (one WAL file shared by both processes), E2E_CONCURRENCY (8),
//      E2E_NGINX_KEEPALIVE (16 upstream keep-alive connections; 0 = a new connection per request),
//      E2E_SHUTDOWN_DELAY_MS (1500), E2E_CLIENT_KEEPALIVE=1 (clients keep their connections to nginx open; see
//      nginxConf), E2E_KEEP=1 keeps the temporary folder and its logs.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../..', import.meta.url).pathname;
const DB = process.env.E2E_DB ?? 'postgres';
const CONCURRENCY = Number(process.env.E2E_CONCURRENCY ?? 8);
const KEEPALIVE = Number(process.env.E2E_NGINX_KEEPALIVE ?? 16);
const SHUTDOWN_DELAY_MS = Number(process.env.E2E_SHUTDOWN_DELAY_MS ?? 1500);
const CLIENT_KEEPALIVE = process.env.E2E_CLIENT_KEEPALIVE === '1';
const HARD_LIMIT_MS = 180_000; // the whole test stops by itself after this, whatever happens
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';

const work = mkdtempSync(join(tmpdir(), 'todo-e2e-'));
chmodSync(work, 0o755); // nginx workers run as nobody when started by root
const children = new Set();
const notes = [];
let passed = 0;
let failed = 0;

const log = (line) => console.log(line);
function check(what, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  log(`  ${ok ? 'ok  ' : 'FAIL'}  ${what}${detail ? ` — ${detail}` : ''}`);
}
function note(line) {
  notes.push(line);
  log(`  note  ${line}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function start(name, command, args, env = {}) {
  const out = openSync(join(work, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
  child.name = name;
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

async function waitFor(what, fn, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if (await fn()) return true;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const get = (url) => fetch(url, { signal: AbortSignal.timeout(2000) });

// ---- the database ------------------------------------------------------------------------------------------
const dbName = `todo_e2e_${process.pid}`;
let databaseUrl;
let redisUrl;
function psql(sql) {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qtAc', sql], { stdio: 'pipe' });
}
if (DB === 'postgres') {
  psql(`CREATE DATABASE ${dbName}`);
  databaseUrl = `postgres://postgres@127.0.0.1:5432/${dbName}`;
  redisUrl = process.env.E2E_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
} else if (DB === 'sqlite') {
  databaseUrl = `sqlite:${join(work, 'todos.db')}`;
} else {
  throw new Error(`E2E_DB must be postgres or sqlite, not ${DB}`);
}

// ---- replicas ----------------------------------------------------------------------------------------------
const replicas = [];
for (const name of ['A', 'B']) replicas.push({ name, port: await freePort(), mport: await freePort() });

function startReplica(r) {
  r.child = start(`replica-${r.name}`, process.execPath, ['dist/main.cjs'], {
    HOST: '127.0.0.1',
    PORT: String(r.port),
    MANAGEMENT_PORT: String(r.mport),
    DATABASE_URL: databaseUrl,
    ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `${dbName}:` } : {}),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    SHUTDOWN_TIMEOUT_MS: '5000',
    TRUST_PROXY: '127.0.0.1',
  });
  // ready = what Kubernetes' readiness probe asks before the pod goes into the endpoints
  return waitFor(`replica ${r.name} /readyz`, async () => (await get(`http://127.0.0.1:${r.mport}/readyz`)).ok);
}

// ---- nginx -------------------------------------------------------------------------------------------------
const nginxPort = await freePort();
let nginx; // the master process (daemon off)
function nginxConf(down = new Set()) {
  // the proxy settings of deploy/nginx/nginx.conf, with the two replicas as static loopback servers
  const temp = join(work, 'nginx-temp');
  mkdirSync(temp, { recursive: true });
  chmodSync(temp, 0o777);
  return `
worker_processes 1;
error_log ${work}/nginx-error.log warn;
pid ${work}/nginx.pid;
${process.getuid?.() === 0 ? 'user nobody nogroup;' : ''}
# old workers finish in-flight requests after a reload; none may linger longer than this
worker_shutdown_timeout 20s;
events { worker_connections 1024; }
http {
  access_log ${work}/nginx-access.log;
  client_body_temp_path ${temp}/body; proxy_temp_path ${temp}/proxy; fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi; scgi_temp_path ${temp}/scgi;
  map $http_x_request_id $todo_request_id { default $http_x_request_id; "" $request_id; }
  upstream todo_api {
${replicas.map((r) => `    server 127.0.0.1:${r.port} max_fails=3 fail_timeout=2s${down.has(r) ? ' down' : ''};`).join('\n')}
${KEEPALIVE > 0 ? `    keepalive ${KEEPALIVE};\n    keepalive_timeout 1s; # shorter than SHUTDOWN_DELAY_MS: nginx retires idle connections before a replica closes them` : ''}
  }
  server {
    listen 127.0.0.1:${nginxPort};
    # The load clients get one connection per request (Connection: close). Taking a replica out means a reload
    # here (nginx OSS 1.22: no dynamic upstreams), and an old worker closes its client keep-alive connections
    # (idle ones at once, busy ones after their current response): a client just writing its next request on
    # one gets "other side closed" (undici UND_ERR_SOCKET) or ECONNRESET and no response. Measured: 14 and 17
    # such errors in two runs with E2E_CLIENT_KEEPALIVE=1, none in the runs without it. Real endpoint changes
    # don't reload the proxy that holds the clients' connections (kube-proxy, ingress-nginx's Lua balancer,
    # nginx >= 1.27.3 \`resolve\` in deploy/nginx/nginx.conf): that race belongs to this harness, not to the
    # deployment under test.
    keepalive_timeout ${CLIENT_KEEPALIVE ? '75s' : '0'};
    location / {
      proxy_pass http://todo_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Request-Id $todo_request_id;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_connect_timeout 2s;
      proxy_read_timeout 15s;
      proxy_next_upstream error timeout http_502 http_503 http_504;
      proxy_next_upstream_tries 2;
      proxy_next_upstream_timeout 10s;
    }
  }
}
`;
}

// The worker processes of the nginx master (its children), from /proc.
function nginxWorkers() {
  const pids = new Set();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === nginx.pid) pids.add(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

// Writes the configuration with `down` replicas marked, checks it, reloads (SIGHUP = nginx -s reload) and waits
// until the new generation of workers runs and every worker of the old one has exited: from then on no request
// and no upstream keep-alive connection of nginx reaches a replica marked down. Returns the time it took.
async function reloadNginx(down) {
  const t0 = Date.now();
  const conf = join(work, 'nginx.conf');
  writeFileSync(conf, nginxConf(down));
  execFileSync(NGINX, ['-t', '-q', '-p', work, '-c', conf], { stdio: 'pipe' });
  const old = nginxWorkers();
  process.kill(nginx.pid, 'SIGHUP');
  await waitFor('nginx: the old workers to exit after the reload', () => {
    const now = nginxWorkers();
    return [...old].every((pid) => !now.has(pid)) && now.size > 0;
  }, 25_000);
  return Date.now() - t0;
}

// ---- Prometheus --------------------------------------------------------------------------------------------
const promPort = await freePort();
function prometheusConf() {
  return `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: todo-service
    static_configs:
      - targets: [${replicas.map((r) => `"127.0.0.1:${r.mport}"`).join(', ')}]
`;
}

async function upTargets() {
  const res = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('up{job="todo-service"}')}`);
  const body = await res.json();
  return body.data.result.filter((s) => s.value[1] === '1').map((s) => s.metric.instance);
}

// ---- load --------------------------------------------------------------------------------------------------
const base = `http://127.0.0.1:${nginxPort}`;
const stats = { total: 0, byStatus: new Map(), failures: [], latencies: [] };
const created = new Map(); // id → title
let running = true;

async function request(method, path, body, expect) {
  const t0 = performance.now();
  let status;
  let json;
  try {
    const res = await fetch(base + path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    status = res.status;
    json = await res.json().catch(() => undefined);
  } catch (error) {
    status = `network error: ${error.cause?.code ?? error.name}`;
  }
  stats.latencies.push(performance.now() - t0);
  stats.total++;
  stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
  if (!expect.includes(status) && stats.failures.length < 50) {
    stats.failures.push(`${method} ${path} → ${status} at ${new Date().toISOString()}${json?.error ? ` (${json.error})` : ''}`);
  } else if (!expect.includes(status)) stats.failures.push('…');
  return { status, json };
}

async function worker(w) {
  let n = 0;
  while (running) {
    n++;
    const title = `e2e ${w}-${n}`;
    const made = await request('POST', '/api/todos', { title, description: 'rolling restart' }, [201]);
    if (made.status === 201) created.set(made.json.todo.id, title);
    const ids = [...created.keys()];
    const id = ids[Math.floor(Math.random() * ids.length)];
    if (id !== undefined) {
      await request('GET', `/api/todos/${id}`, undefined, [200]);
      if (n % 4 === 0) await request('PATCH', `/api/todos/${id}`, { completed: n % 8 === 0 }, [200]);
    }
    await request('GET', '/api/todos?page=1&limit=10', undefined, [200]);
  }
}

// ---- the test ----------------------------------------------------------------------------------------------
async function cleanup() {
  running = false;
  for (const child of children) child.kill('SIGTERM');
  await Promise.race([Promise.all([...children].map((c) => c.exited)), sleep(8000)]);
  for (const child of children) child.kill('SIGKILL');
  if (DB === 'postgres') {
    try {
      psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    } catch (error) {
      note(`could not drop database ${dbName}: ${error.message}`);
    }
  }
  if (process.env.E2E_KEEP === '1') log(`  (kept ${work})`);
  else rmSync(work, { recursive: true, force: true });
}

const hardStop = setTimeout(() => {
  log(`e2e: gave up after ${HARD_LIMIT_MS / 1000} s`);
  void cleanup().then(() => process.exit(1));
}, HARD_LIMIT_MS);

try {
  log(`== e2e on loopback: 2 replicas (${DB}${redisUrl ? ' + Redis' : ''}) behind nginx :${nginxPort}, Prometheus :${promPort}`);
  await Promise.all(replicas.map(startReplica));
  log(`   replicas: ${replicas.map((r) => `${r.name} :${r.port} (management :${r.mport})`).join(', ')}`);

  writeFileSync(join(work, 'nginx.conf'), nginxConf());
  nginx = start('nginx', NGINX, ['-p', work, '-c', join(work, 'nginx.conf'), '-g', 'daemon off;']);
  await waitFor('nginx', async () => (await get(`${base}/health`)).ok);

  const metricsServed = await get(`http://127.0.0.1:${replicas[0].mport}/metrics`).then((r) => r.ok, () => false);
  if (metricsServed) {
    writeFileSync(join(work, 'prometheus.yml'), prometheusConf());
    start('prometheus', PROMETHEUS, [
      `--config.file=${join(work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(work, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    const seen = await waitFor('Prometheus: both replicas up', async () => (await upTargets()).length === 2, 30_000).catch(() => false);
    check('Prometheus scrapes both replicas (up == 1)', seen === true);
  } else {
    note(`no /metrics on MANAGEMENT_PORT yet: the Prometheus check is skipped until the service serves it`);
  }

  log(`== load through nginx: ${CONCURRENCY} clients (create, read, list, update); rolling restart after 3 s`);
  const loadStart = Date.now();
  const workers = Array.from({ length: CONCURRENCY }, (_, i) => worker(i));
  await sleep(3000);
  const restarts = [];
  for (const r of replicas) {
    const outMs = await reloadNginx(new Set([r]));
    const t0 = Date.now();
    r.child.kill('SIGTERM');
    const { code, signal } = await Promise.race([r.child.exited, sleep(20_000).then(() => ({ code: 'timeout' }))]);
    const stopMs = Date.now() - t0;
    const t1 = Date.now();
    await startReplica(r);
    const startMs = Date.now() - t1;
    const inMs = await reloadNginx(new Set());
    restarts.push({ name: r.name, code, signal, outMs, stopMs, startMs, inMs });
    log(`   replica ${r.name}: out of nginx's upstream in ${outMs} ms, SIGTERM → exit ${code ?? signal} in ${stopMs} ms, ` +
      `ready again in ${startMs} ms, back in the upstream in ${inMs} ms`);
    await sleep(2000);
  }
  await sleep(1000);
  running = false;
  await Promise.all(workers);
  const loadSeconds = ((Date.now() - loadStart) / 1000).toFixed(1);

  for (const r of restarts) check(`replica ${r.name} exits 0 on SIGTERM`, r.code === 0, `exit ${r.code ?? r.signal} after ${r.stopMs} ms`);
  const sorted = [...stats.latencies].sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]?.toFixed(1);
  const statusLine = [...stats.byStatus].map(([s, n]) => `${s}: ${n}`).join(', ');
  log(`   ${stats.total} requests (${statusLine}); latency p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`);
  check('0 failed requests during the rolling restart', stats.failures.length === 0, stats.failures.slice(0, 10).join('; '));

  // every 201 must be readable, through nginx and from each replica directly
  let missing = 0;
  const ids = [...created];
  for (let i = 0; i < ids.length; i += 32) {
    await Promise.all(ids.slice(i, i + 32).map(async ([id, title]) => {
      const res = await get(`${base}/api/todos/${id}`);
      const body = res.ok ? await res.json() : undefined;
      if (body?.todo?.title !== title) missing++;
    }));
  }
  check(`every POST answered 201 is readable afterwards (${ids.length} todos)`, missing === 0, missing ? `${missing} missing` : '');
  for (const r of replicas) {
    const res = await get(`http://127.0.0.1:${r.port}/api/todos?limit=1`);
    const total = res.ok ? (await res.json()).pagination.total_items : -1;
    check(`replica ${r.name} counts at least the ${ids.length} created todos`, total >= ids.length, `total_items ${total}`);
  }
  log(`   figures: ${stats.total} requests, ${stats.failures.length} failed, ${ids.length} writes checked, ${missing} lost; ` +
    `${loadSeconds} s of load; restarts ${restarts.map((r) => `${r.name} out ${r.outMs} ms / stop ${r.stopMs} ms / ready ${r.startMs} ms / in ${r.inMs} ms`).join(', ')}; ` +
    `nginx upstream keepalive ${KEEPALIVE}`);
} catch (error) {
  check('the topology runs', false, error.stack ?? String(error));
  log(`   logs in ${work} (E2E_KEEP=1 keeps them)`);
} finally {
  clearTimeout(hardStop);
  await cleanup();
}
for (const n of notes) log(`note: ${n}`);
log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
