// Drill: a replica killed with SIGKILL under load (the OOM killer's way), two replicas of one PostgreSQL + Redis
// behind nginx. Two loads run at once through nginx: plain clients (each request sent once) and careful clients
// (a failed request is retried, POSTs with the same Idempotency-Key). Each round kills one replica and restarts
// it the way a supervisor (Kubernetes' kubelet, systemd) does, after a back-off.
// Passes when: every acknowledged write of both loads is in the database; the plain clients' failures all fall in
// the moments a replica died (in flight on it); the careful clients end with no failure and no duplicate; the
// killed replica is ready again and serves through nginx without operator action.
import { Load, Nginx, PostgresCluster, RedisServer, Service, auditLoads, drill, fmt, short, sleep, waitFor } from './lib.mjs';

const ROUNDS = short ? 2 : 6;
const CLIENTS = 16;
const BETWEEN_MS = short ? 4000 : 8000;
const RESTART_BACKOFF_MS = 3000; // a supervisor's restart delay (kubelet's first back-off is 10 s; systemd's RestartSec)

await drill('replica-kill', async (d) => {
  const pg = await (await new PostgresCluster(d).init()).start();
  const redis = await new RedisServer(d).start();
  const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, TRUST_PROXY: '127.0.0.1' };
  const replicas = [new Service(d, 'A', env), new Service(d, 'B', env)];
  await Promise.all(replicas.map((r) => r.start()));
  const nginx = await new Nginx(d, replicas).start();
  d.log(`2 replicas (PostgreSQL :${pg.port}, Redis :${redis.port}) behind nginx :${nginx.port}; ${ROUNDS} kills`);

  const plain = new Load({ urls: [nginx.url], clients: CLIENTS / 2, tag: 'plain' }).start();
  const careful = new Load({ urls: [nginx.url], clients: CLIENTS / 2, tag: 'careful', retry: true }).start();
  const kills = []; // { at, ms until the replica serves again }
  await sleep(2000);
  for (let round = 0; round < ROUNDS; round++) {
    const r = replicas[round % 2];
    const at = Date.now();
    await r.kill9();
    await sleep(RESTART_BACKOFF_MS);
    await r.start();
    // back in service: nginx sends it requests again (its fail_timeout passed) — seen from the replica's own counter
    const before = await requestsServed(r);
    await waitFor(`replica ${r.name} to serve through nginx again`, async () => (await requestsServed(r)) > before, 15_000);
    kills.push({ at, name: r.name, recoveryMs: Date.now() - at - RESTART_BACKOFF_MS });
    await sleep(BETWEEN_MS);
  }
  await Promise.all([plain.stop(), careful.stop()]);
  d.log(`plain:   ${plain.summary()}`);
  d.log(`careful: ${careful.summary()}`);

  const rows = await pg.query('SELECT id, title, description FROM todos');
  const auditPlain = plain.audit(rows);
  const auditCareful = careful.audit(rows);
  // a failed request of the plain clients must have been in flight when a replica died: answered within the
  // client's timeout of a kill, never minutes later
  const stray = plain.failures.filter((f) => !kills.some((k) => f.at >= k.at && f.at <= k.at + 10_000));
  d.check('every acknowledged write of the plain clients is in the database', auditPlain.lost === 0, auditPlain.examples.join('; '));
  d.check('every acknowledged write of the careful clients is in the database', auditCareful.lost === 0, auditCareful.examples.join('; '));
  const { examples, ...total } = auditLoads([plain, careful], rows);
  d.check('no todo stored twice', total.duplicates === 0, examples.join('; '));
  d.check(`the plain clients' failures (${plain.failures.length}) are all requests in flight when a replica died`, stray.length === 0,
    stray.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  d.check('the careful clients (retry, Idempotency-Key) end with no failure', careful.failures.length === 0,
    careful.failures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  d.check('each killed replica restarted and served through nginx again', kills.length === ROUNDS);
  const worst = Math.max(...kills.map((k) => k.recoveryMs));
  d.log(`kills: ${kills.map((k) => `${k.name} back in ${(k.recoveryMs / 1000).toFixed(2)} s`).join(', ')} (after the ${RESTART_BACKOFF_MS / 1000} s back-off)`);
  d.report({
    load: `${CLIENTS} clients through nginx, ${ROUNDS} × kill -9 of a replica`,
    seconds: Math.round(plain.seconds),
    ...total,
    recoveryMs: worst,
    extra: `failed = plain clients' requests in flight (${fmt(plain.failures.length)}); careful clients 0 failed after ${fmt(careful.retries)} retries`,
  });
}, { hardLimitMs: short ? 120_000 : 300_000 });

async function requestsServed(r) {
  const text = await (await fetch(`${r.managementUrl}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^http_requests_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}
