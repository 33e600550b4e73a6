// Drill: crash consistency on SQLite. One service on a SQLite file under a write-heavy load is killed with SIGKILL
// at a random moment, the database file is checked as it was left, and the service is started again on the same
// port, round after round. Two loads at once: plain clients (each request sent once; one load per round, stopped
// at the kill) and careful clients (a failed request is retried, POSTs with the same Idempotency-Key; one load for
// the whole phase, retrying while the service is down).
// It relies on SQLITE_SYNCHRONOUS=NORMAL, the default: in WAL mode a commit is in the WAL (the OS's page cache)
// before its 201 is sent, so it survives the death of the process, not a power loss. The full form also runs
// rounds with FULL (an fsync per commit), which must hold the same.
// Passes when: after every kill the file passes `PRAGMA integrity_check` and holds every write acknowledged so
// far; the plain clients' failures are all requests in flight at a kill; the careful clients end with no failure
// and no duplicate; every restart gets ready.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Load, Service, auditLoads, drill, fmt, short, sleep } from './lib.mjs';

const PHASES = short ? [['NORMAL', 5]] : [['NORMAL', 20], ['FULL', 5]];
const CLIENTS = 8; // of each load
const KILL_AFTER_MS = [300, 1500]; // a random moment of the round

await drill('sqlite-crash', async (d) => {
  const t0 = Date.now();
  const results = [];
  for (const [synchronous, rounds] of PHASES) results.push(await phase(d, synchronous, rounds));

  const sum = (f) => results.reduce((n, r) => n + f(r), 0);
  const restarts = results.flatMap((r) => r.restartMs);
  const worst = Math.max(...restarts);
  const kills = sum((r) => r.rounds);
  d.log(`restart to ready: median ${(restarts.sort((a, b) => a - b)[Math.floor(restarts.length / 2)] / 1000).toFixed(2)} s, worst ${(worst / 1000).toFixed(2)} s`);
  d.report({
    load: `${CLIENTS} plain + ${CLIENTS} careful clients (writes), ${kills} × kill -9 at a random moment (` +
      `${PHASES.map(([s, n]) => `${n} with SQLITE_SYNCHRONOUS=${s}`).join(', ')})`,
    seconds: Math.round((Date.now() - t0) / 1000),
    requests: sum((r) => r.requests),
    failed: sum((r) => r.plainFailed + r.carefulFailed),
    acknowledged: sum((r) => r.acknowledged),
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
    recoveryMs: worst,
    extra: `failed = plain clients' requests in flight at a kill (${fmt(sum((r) => r.plainFailed))}); careful clients ` +
      `${fmt(sum((r) => r.carefulFailed))} failed after ${fmt(sum((r) => r.retries))} retries; integrity_check ok after each kill`,
  });
}, { hardLimitMs: short ? 150_000 : 420_000 });

/** Rounds of kill -9 on one service and database file with the given SQLITE_SYNCHRONOUS. */
async function phase(d, synchronous, rounds) {
  const dbPath = join(d.work, `todos-${synchronous.toLowerCase()}.db`);
  const svc = await new Service(d, `sqlite-${synchronous.toLowerCase()}`, { DATABASE_URL: `sqlite:${dbPath}`, SQLITE_SYNCHRONOUS: synchronous }).start();
  d.log(`SQLITE_SYNCHRONOUS=${synchronous}: service on ${dbPath}, ${rounds} kills`);
  const careful = new Load({ urls: [svc.url], clients: CLIENTS, tag: `careful-${synchronous}`, retry: true, mix: 'writes' }).start();
  const plains = [];
  const kills = []; // { at, integrity, lost, duplicates, examples }
  const restartMs = [];
  for (let round = 1; round <= rounds; round++) {
    const plain = new Load({ urls: [svc.url], clients: CLIENTS, tag: `plain-${synchronous}-${round}`, mix: 'writes' }).start();
    plains.push(plain);
    await sleep(KILL_AFTER_MS[0] + Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]));
    const at = Date.now();
    await svc.kill9();
    await plain.stop(); // its requests in flight fail now; the careful clients retry until the service is back

    // the file as the killed process left it (opening it reads the WAL too)
    const { integrity, lost, duplicates, examples } = inspect(dbPath, [careful, ...plains]);
    kills.push({ at, integrity, lost, duplicates, examples });
    if (integrity !== 'ok' || lost + duplicates > 0) {
      d.log(`round ${round}: integrity_check ${JSON.stringify(integrity)}, ${lost} lost, ${duplicates} duplicates`);
    }

    const t = Date.now();
    await svc.start(); // same ports
    restartMs.push(Date.now() - t);
  }
  await careful.stop();
  svc.child.kill('SIGTERM');
  const exit = await svc.child.exited;

  const { integrity, lost, duplicates } = inspect(dbPath, [careful, ...plains]);
  const plainFailures = plains.flatMap((p) => p.failures);
  // a plain client's failure is a request that was in flight when the process died: a broken connection, at once
  const stray = plainFailures.filter((f) => typeof f.status !== 'string' || !kills.some((k) => f.at >= k.at && f.at <= k.at + 3000));
  const s = `SQLITE_SYNCHRONOUS=${synchronous}`;
  d.log(`${s}: plain:   ${fmt(plains.reduce((n, p) => n + p.requests, 0))} requests over ${rounds} rounds, ${fmt(plainFailures.length)} failed ` +
    `(${[...new Set(plainFailures.map((f) => f.status))].join(', ')})`);
  d.log(`${s}: careful: ${careful.summary()}`);
  d.check(`${s}: integrity_check ok after each of the ${rounds} kills`, kills.every((k) => k.integrity === 'ok'),
    kills.filter((k) => k.integrity !== 'ok').map((k) => String(k.integrity)).slice(0, 3).join('; '));
  d.check(`${s}: after each kill, every write acknowledged so far is in the file, once`, kills.every((k) => k.lost + k.duplicates === 0),
    kills.flatMap((k) => k.examples).slice(0, 5).join('; '));
  d.check(`${s}: after the last restart and a clean stop, integrity_check ok, nothing lost, nothing twice`,
    integrity === 'ok' && lost + duplicates === 0 && exit.code === 0, `${integrity}, ${lost} lost, ${duplicates} twice, exit ${JSON.stringify(exit)}`);
  d.check(`${s}: the plain clients' failures (${plainFailures.length}) are all requests in flight at a kill`, stray.length === 0,
    stray.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}${f.detail ? ` (${f.detail})` : ''}`).join('; '));
  d.check(`${s}: the careful clients (retry, Idempotency-Key) end with no failure`, careful.failures.length === 0,
    careful.failures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  d.check(`${s}: the service got ready after each restart (worst ${(Math.max(...restartMs) / 1000).toFixed(2)} s)`, restartMs.length === rounds);
  return {
    rounds,
    restartMs,
    requests: careful.requests + plains.reduce((n, p) => n + p.requests, 0),
    plainFailed: plainFailures.length,
    carefulFailed: careful.failures.length,
    retries: careful.retries,
    acknowledged: careful.acknowledged + plains.reduce((n, p) => n + p.acknowledged, 0),
    lost,
    duplicates,
  };
}

/** integrity_check of the database file and the loads' audit against its rows. */
function inspect(dbPath, loads) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    return { integrity, ...auditLoads(loads, db.prepare('SELECT id, title, description FROM todos').all()) };
  } finally {
    db.close();
  }
}
