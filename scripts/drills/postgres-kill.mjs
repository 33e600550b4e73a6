// Drill: PostgreSQL killed with SIGKILL (its postmaster, the OOM killer's way) under load, and started again
// after a few seconds (crash recovery from its WAL). Two replicas of the service on the drill's own cluster and
// Redis (the read cache), each load spread over both: plain clients (each request sent once) and careful clients
// (a failed request is retried, POSTs with the same Idempotency-Key).
// Passes when: while the database is down every failed request is a 503 with Retry-After and a problem body, and
// /readyz answers 503 within the statement timeout; once the database accepts connections again both replicas
// serve (a 200 from the API and from /readyz) within 5 s, without a restart; the careful clients are not held off
// by 409s past that; every acknowledged write of both loads is in the database — with synchronous_commit = on (the
// server's default, which the cluster keeps), a COMMIT is acknowledged only once its WAL is flushed, so crash
// recovery replays it — and nothing is stored twice; neither replica's process ever exits.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Load, PostgresCluster, RedisServer, Service, auditLoads, drill, fmt, get, short, sleep } from './lib.mjs';

const ROUNDS = short ? 2 : 5;
const CLIENTS = 16;
const STATEMENT_TIMEOUT_MS = 2000;
const DOWN_MS = 5000; // from the kill to the restart
const BETWEEN_MS = short ? 4000 : 6000;
const RECOVERY_LIMIT_MS = 5000;
const MARGIN_MS = 1000; // a shared, noisy machine: scheduling and the probe's own round trip
const IN_PROGRESS = 'urn:todo-service:problem:request-in-progress';

/** A Load that also keeps what its error answers looked like (Retry-After, problem body) and when 409s came. */
class WatchedLoad extends Load {
  constructor(options) {
    super(options);
    this.errors = []; // { at, status, retryAfter, type, problemStatus }
  }

  async send(method, path, body, headers) {
    const res = await super.send(method, path, body, headers);
    if (typeof res.status !== 'number' || res.status >= 400) {
      this.errors.push({ at: Date.now(), status: res.status, retryAfter: res.retryAfter, type: res.json?.type, problemStatus: res.json?.status });
    }
    return res;
  }
}

await drill('postgres-kill', async (d) => {
  const pg = await (await new PostgresCluster(d).init()).start();
  const [{ synchronous_commit: syncCommit }] = await pg.query('SHOW synchronous_commit');
  const redis = await new RedisServer(d).start(); // the read cache, as deployed: it must not hide or worsen the outage
  const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) };
  const replicas = [new Service(d, 'A', env), new Service(d, 'B', env)];
  await Promise.all(replicas.map((r) => r.start()));
  const pids = replicas.map((r) => r.child.pid);
  d.log(`2 replicas on PostgreSQL :${pg.port} (synchronous_commit = ${syncCommit}) and Redis :${redis.port}; ${ROUNDS} × kill -9 of the postmaster, ${DOWN_MS / 1000} s down`);

  const urls = replicas.map((r) => r.url);
  const plain = new WatchedLoad({ urls, clients: CLIENTS / 2, tag: 'plain' }).start();
  const careful = new WatchedLoad({ urls, clients: CLIENTS / 2, tag: 'careful', retry: true }).start();
  const rounds = []; // { at, acceptsAt, readyz503Ms, slowestReadyzMs, samples, serveMs, readyMs }
  await sleep(2000);
  for (let round = 0; round < ROUNDS; round++) {
    const r = { at: Date.now(), samples: [] };
    const killed = pg.kill9();
    await watchOutage(replicas, r, r.at + DOWN_MS);
    await killed;
    const t0 = Date.now();
    await pg.start();
    r.acceptsAt = Date.now();
    r.startMs = r.acceptsAt - t0;
    Object.assign(r, await watchRecovery(replicas, r.acceptsAt));
    rounds.push(r);
    d.log(`round ${round + 1}: /readyz 503 ${r.readyz503Ms} ms after the kill (slowest probe ${r.slowestReadyzMs} ms); ` +
      `PostgreSQL up after ${(r.startMs / 1000).toFixed(2)} s of crash recovery; serving after ${r.serveMs} ms, ready after ${r.readyMs} ms`);
    await sleep(BETWEEN_MS);
  }
  await Promise.all([plain.stop(), careful.stop()]);
  const alive = replicas.map((s) => s.child.exitCode === null && s.child.signalCode === null);
  d.log(`plain:   ${plain.summary()}`);
  d.log(`careful: ${careful.summary()}`);
  const logs = replicas.map((s) => readFileSync(join(d.work, `service-${s.name}.log`), 'utf8')).join('');
  const count = (msg) => logs.split('\n').filter((line) => line.includes(`"msg":"${msg}"`)).length;
  d.log(`service logs: ${count('idempotency key: the database is unavailable; giving it back in the background')} Idempotency-Keys given back in the background, ` +
    `${count('unhandled error')} unhandled errors, ${count('fatal error, shutting down')} fatal errors`);

  const rows = await pg.query('SELECT id, title, description FROM todos');
  const auditPlain = plain.audit(rows);
  const auditCareful = careful.audit(rows);
  const worst = Math.max(...rounds.map((r) => Math.max(r.serveMs, r.readyMs)));
  // an outage lasts from the kill until the replicas serve again, plus a request begun just before that
  const outage = (at) => rounds.some((r) => at >= r.at && at <= r.acceptsAt + Math.max(r.serveMs, r.readyMs) + STATEMENT_TIMEOUT_MS + MARGIN_MS);
  // the careful clients' 409s (a key still held) are retried, and judged below by when they stop
  const inProgress = careful.errors.filter((e) => e.status === 409 && e.type === IN_PROGRESS);
  const unavailable = [...plain.errors, ...careful.errors.filter((e) => !inProgress.includes(e))];
  const bad = unavailable.filter((e) => e.status !== 503 || !(e.retryAfter > 0) || e.problemStatus !== 503 || typeof e.type !== 'string');
  const stray = unavailable.filter((e) => !outage(e.at));
  const samples = rounds.flatMap((r) => r.samples);
  const badSamples = samples.filter((s) => !s.ok && !(s.status === 503 && s.retryAfter > 0 && s.problem));
  const roundOf = (at) => rounds.findLast((r) => r.at <= at);
  const late409 = inProgress.filter((e) => roundOf(e.at) && e.at > roundOf(e.at).acceptsAt + RECOVERY_LIMIT_MS);
  const types = [...new Set(unavailable.map((e) => `${e.status} ${e.type}`))].join(', ');

  d.check('neither replica exited (no crash when its connections died)', alive.every(Boolean),
    replicas.map((s, i) => `${s.name} (pid ${pids[i]}): ${alive[i] ? 'alive' : `exit ${s.child.exitCode ?? s.child.signalCode}`}`).join(', '));
  d.check(`every error answer of the loads (${fmt(unavailable.length)}; network errors included) is a 503 with Retry-After and a problem body`, bad.length === 0,
    bad.slice(0, 5).map((e) => `${e.status} ${e.type ?? ''} retry-after ${e.retryAfter}`).join('; ') || types);
  d.check('…and came during an outage', stray.length === 0, stray.slice(0, 5).map((e) => `${e.status} at +${e.at - rounds[0].at} ms`).join('; '));
  d.check(`every sampled API answer during the outages (${samples.length}) is a 503 with Retry-After and an application/problem+json body`,
    samples.length > 0 && badSamples.length === 0, badSamples.slice(0, 5).map((s) => `${s.what} → ${s.status} ${s.contentType ?? ''} retry-after ${s.retryAfter}`).join('; '));
  const readyzLimit = STATEMENT_TIMEOUT_MS + MARGIN_MS;
  d.check(`/readyz answers 503 within the statement timeout (${STATEMENT_TIMEOUT_MS} ms + ${MARGIN_MS} ms) of the kill, every probe as fast`,
    rounds.every((r) => r.readyz503Ms !== undefined && r.readyz503Ms <= readyzLimit && r.slowestReadyzMs <= readyzLimit && r.readyzNot503 === 0),
    rounds.map((r) => `${r.readyz503Ms ?? 'never'} ms (slowest ${r.slowestReadyzMs} ms${r.readyzNot503 ? `, ${r.readyzNot503} not 503` : ''})`).join(', '));
  d.check(`both replicas serve again (API 200 and /readyz 200) within ${RECOVERY_LIMIT_MS / 1000} s of PostgreSQL accepting connections, without a restart`,
    worst <= RECOVERY_LIMIT_MS, rounds.map((r) => `${r.serveMs} / ${r.readyMs} ms`).join(', '));
  d.check(`the careful clients get no 409 request-in-progress later than ${RECOVERY_LIMIT_MS / 1000} s after the database is back`, late409.length === 0,
    `${fmt(inProgress.length)} in all` +
      (late409.length ? `; ${late409.length} late, the last ${Math.max(...late409.map((e) => e.at - roundOf(e.at).acceptsAt))} ms after the database was back` : ''));
  d.check('every acknowledged write of the plain clients is in the database', auditPlain.lost === 0, auditPlain.examples.join('; '));
  d.check('every acknowledged write of the careful clients is in the database', auditCareful.lost === 0, auditCareful.examples.join('; '));
  const { examples, ...total } = auditLoads([plain, careful], rows);
  d.check('no todo stored twice', total.duplicates === 0, examples.join('; '));
  d.check('the careful clients (retry, Idempotency-Key) end with no failure', careful.failures.length === 0,
    careful.failures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status} ${f.detail ?? ''}`).join('; '));
  d.check('the plain clients got 503s during the outages (the drill did take the database away)', plain.failures.length > 0);
  d.report({
    load: `${CLIENTS} clients on 2 replicas (PostgreSQL + Redis), ${ROUNDS} × kill -9 of the PostgreSQL postmaster, ${DOWN_MS / 1000} s down`,
    seconds: Math.round(plain.seconds),
    ...total,
    recoveryMs: worst,
    extra: `failed = 503 + Retry-After during the outages; careful clients 0 failed after ${fmt(careful.retries)} retries; synchronous_commit ${syncCommit}`,
  });
}, { hardLimitMs: short ? 150_000 : 300_000 });

/**
 * From the kill until `until`: /readyz of each replica (the first 503, the slowest answer, any other answer), and
 * a read and a write on the API, whose failures must be 503 + Retry-After + problem body.
 */
async function watchOutage(replicas, r, until) {
  r.slowestReadyzMs = 0;
  r.readyzNot503 = 0;
  let n = 0;
  while (Date.now() < until) {
    await Promise.all(replicas.map(async (s) => {
      const t0 = Date.now();
      const res = await get(`${s.managementUrl}/readyz`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      const took = Date.now() - t0;
      if (res?.status === 503) {
        r.readyz503Ms ??= Date.now() - r.at;
        r.slowestReadyzMs = Math.max(r.slowestReadyzMs, took);
      } else if (r.readyz503Ms !== undefined) r.readyzNot503++; // before the first 503 the database may still be dying
      await res?.body?.cancel();
      r.samples.push(await sample(`GET ${s.name} /api/todos/1`, `${s.url}/api/todos/1`));
      r.samples.push(await sample(`POST ${s.name} /api/todos`, `${s.url}/api/todos`, { title: `sample ${s.name}-${n++}` }));
    }));
    await sleep(100);
  }
}

async function sample(what, url, body) {
  const init = body ? { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {};
  try {
    const res = await get(url, { ...init, signal: AbortSignal.timeout(10_000) });
    const contentType = res.headers.get('content-type') ?? '';
    const json = await res.json().catch(() => undefined);
    return {
      what,
      ok: res.ok || res.status === 404,
      status: res.status,
      retryAfter: Number(res.headers.get('retry-after')),
      contentType,
      problem: contentType.startsWith('application/problem+json') && json?.status === res.status && typeof json?.type === 'string' && typeof json?.title === 'string',
    };
  } catch (error) {
    return { what, ok: false, status: `network error: ${error.cause?.code ?? error.name}` };
  }
}

/** From the moment PostgreSQL accepts connections: ms until each replica answers the API with 200, and /readyz. */
async function watchRecovery(replicas, from) {
  const until = async (url) => {
    for (;;) {
      const res = await get(url).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 200) return Date.now() - from;
      if (Date.now() - from > 30_000) return Infinity;
      await sleep(25);
    }
  };
  const [serve, ready] = await Promise.all([
    Promise.all(replicas.map((s) => until(`${s.url}/api/todos?page=1&limit=1`))),
    Promise.all(replicas.map((s) => until(`${s.managementUrl}/readyz`))),
  ]);
  return { serveMs: Math.max(...serve), readyMs: Math.max(...ready) };
}
