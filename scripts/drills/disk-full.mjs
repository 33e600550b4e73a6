// Drill: the database's disk runs full under SQLite. The database directory is a small tmpfs of the drill's own;
// a filler file eats its free space down to a few pages while a load of creates, updates, reads and lists runs,
// and a prober checks each answer's shape. Then the filler is deleted, and the same process must take writes again.
// Two kinds of cycle: `checkpoint` (the WAL is checkpointed as usual; the WAL or the database file cannot grow:
// SQLITE_FULL) and `snapshot` (a reader holds a read transaction, as an online backup does, so no checkpoint passes
// it and the WAL grows past the 4,062 frames of its index's first region; the space runs out just there, so the
// -shm file cannot grow either: SQLITE_IOERR_SHMSIZE).
// Passes when: while the disk is full every failed write is a 507 (or 503) problem (application/problem+json with
// the Go reference's `error` member), never a 500, and reads (by id, list) all answer 200; the process never dies;
// after the space is freed, writes answer 201 again within seconds, without a restart; at the end the database
// passes `PRAGMA integrity_check` and holds every acknowledged write, once.
// Needs root (mount -t tmpfs); without it the drill says SKIP and exits 0.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Load, Service, drill, fmt, isRoot, short, sleep, waitFor } from './lib.mjs';

const CYCLES = short ? ['snapshot'] : ['checkpoint', 'snapshot', 'checkpoint'];
const CLIENTS = 8;
const RATE = 1500; // requests/s of the load: the database stays a few MB over all cycles
const TMPFS_KB = 32 * 1024;
const SLACK_KB = 96; // what the filler leaves free: a few dozen pages, used up by the WAL in well under a second
const SHM_REGION_FRAMES = 4062; // WAL frames indexed by the first 32 KB region of the -shm file (4 KB pages)
const walBytesAt = (frames) => 32 + frames * (4096 + 24);
const SQLITE_CODES = { 'database or disk is full': 'SQLITE_FULL', 'disk I/O error': 'SQLITE_IOERR (SHMSIZE or WRITE)' };
const FULL_MS = short ? 3000 : 4000; // how long the disk stays full once writes fail
const AFTER_MS = 3000; // normal running after each recovery
const RECOVERY_LIMIT_MS = 10_000;

if (!isRoot) {
  console.log('== drill disk-full');
  console.log('drill disk-full: SKIP — needs root to mount a tmpfs for the database directory; nothing was tested');
  process.exit(0);
}

/**
 * One client that sends a create, an update, a read by id and a list in turn, every 20 ms, and keeps each answer:
 * its status, and for a failure whether the body is an RFC 9457 problem with the Go reference's `error` member.
 */
class Prober {
  constructor(url) {
    this.url = url;
    this.results = []; // { at, method, status, problem, why }
    this.running = true;
    this.n = 0;
  }

  async seed() {
    const res = await fetch(`${this.url}/api/todos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'probe seed' }) });
    this.id = (await res.json()).todo.id;
  }

  async run() {
    while (this.running) {
      const n = this.n++;
      const [method, path, body] = [
        ['POST', '/api/todos', { title: `probe ${n}` }],
        ['PATCH', `/api/todos/${this.id}`, { description: `p${n}` }],
        ['GET', `/api/todos/${this.id}`],
        ['GET', '/api/todos?page=1&limit=10'],
      ][n % 4];
      this.results.push(await this.send(method, path, body));
      await sleep(20);
    }
  }

  async send(method, path, body) {
    const at = Date.now();
    try {
      const res = await fetch(this.url + path, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body && JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      const type = res.headers.get('content-type') ?? '';
      const json = await res.json().catch(() => undefined);
      let why = '';
      if (res.status >= 400) {
        if (!type.startsWith('application/problem+json')) why = `content-type ${type}`;
        else if (json?.status !== res.status || typeof json.type !== 'string' || typeof json.title !== 'string') why = 'not a problem body';
        else if (typeof json.error !== 'string' || json.error !== json.detail) why = 'no `error` member';
        else if (res.status === 507 && !res.headers.get('retry-after')) why = 'no Retry-After';
      }
      return { at, doneAt: Date.now(), method, status: res.status, problem: res.status >= 400 && why === '', why };
    } catch (error) {
      return { at, method, status: `network error: ${error.cause?.code ?? error.name}`, problem: false, why: 'no answer' };
    }
  }

  writeFailuresSince(t) {
    return this.results.filter((r) => r.at >= t && r.method !== 'GET' && r.status !== 200 && r.status !== 201).length;
  }

  /** When the first write sent after t was answered 200/201, or undefined. */
  firstWriteOkSince(t) {
    return this.results.find((r) => r.at >= t && r.method !== 'GET' && (r.status === 200 || r.status === 201))?.doneAt;
  }

  between(from, until) {
    return this.results.filter((r) => r.at >= from && r.at < until);
  }

  statusCounts() {
    const counts = new Map();
    for (const r of this.results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    return [...counts].map(([s, n]) => `${s}: ${fmt(n)}`).join(', ');
  }
}

await drill('disk-full', async (d) => {
  const dir = join(d.work, 'db');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_KB}k,mode=0755`, 'tmpfs', dir]);
  // lazily if something still holds a file there: the drill's folder is removed next
  d.onCleanup(() => execFileSync('umount', ['--lazy', dir]));
  const filler = join(dir, 'filler');
  const dbPath = join(dir, 'todos.db');
  /** Allocates the filler so that `leave` bytes stay free; returns its size. */
  const fill = (leave) => {
    const s = statfsSync(dir);
    const bytes = Math.max(0, Number(s.bavail) * Number(s.bsize) - leave);
    execFileSync('fallocate', ['-l', String(bytes), filler]);
    return bytes;
  };

  const svc = await new Service(d, 'sqlite', { DATABASE_URL: `sqlite:${dbPath}` }).start();
  const pid = svc.child.pid;
  d.log(`service pid ${pid} on SQLite ${dbPath} (tmpfs of ${TMPFS_KB / 1024} MB); ${CYCLES.length} fill/free cycle(s): ${CYCLES.join(', ')}`);

  const load = new Load({ urls: [svc.url], clients: CLIENTS, tag: 'diskfull', ratePerSecond: RATE }).start();
  const prober = new Prober(svc.url);
  await prober.seed();
  const probing = prober.run();
  await sleep(1500);

  const cycles = []; // { filledMs, full: { reads, readsOk, writes507 }, recoveryMs, recoveredAt }
  for (const [c, kind] of CYCLES.entries()) {
    let reader;
    let shm;
    let slack = SLACK_KB * 1024;
    if (kind === 'snapshot') {
      // The WAL index header is read through a descriptor kept open until the reader is closed: closing any
      // descriptor of the -shm file would drop every POSIX lock this process holds on it, the reader's too.
      shm = openSync(`${dbPath}-shm`, 'r');
      reader = new Database(dbPath, { readonly: true });
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM todos').get();
      const walFrames = () => {
        const header = Buffer.alloc(4);
        readSync(shm, header, 0, 4, 16); // mxFrame of the WAL index header
        return header.readUInt32LE(0);
      };
      await waitFor('the WAL to grow near the end of its index region', () => walFrames() >= SHM_REGION_FRAMES - 300, 60_000, 10);
      // stopped, the service writes nothing: room for the WAL to reach the region's end and a few frames more,
      // not for the index's next 32 KB
      process.kill(pid, 'SIGSTOP');
      try {
        slack = Math.max(0, walBytesAt(SHM_REGION_FRAMES) - statSync(`${dbPath}-wal`).size) + 20 * 1024;
        fill(slack);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    }
    const filledAt = Date.now();
    const fillBytes = kind === 'snapshot' ? statSync(filler).size : fill(slack);
    // the disk is full once writes start failing: the WAL has grown into the slack and a checkpoint found no room
    const sawFull = await waitFor('writes to fail for want of space', () => prober.writeFailuresSince(filledAt) > 0, 15_000)
      .then(() => true, () => false);
    const fullFrom = Date.now();
    await sleep(FULL_MS);
    const fullUntil = Date.now();
    const whileFull = prober.between(fullFrom, fullUntil);
    const avail = Number(statfsSync(dir).bavail) * Number(statfsSync(dir).bsize);

    unlinkSync(filler);
    const freedAt = Date.now();
    if (reader) {
      reader.exec('COMMIT'); // the backup is done
      reader.close();
      closeSync(shm);
    }
    const recoveredAt = await waitFor('a write to answer 201 again', () => prober.firstWriteOkSince(freedAt), RECOVERY_LIMIT_MS)
      .then(() => prober.firstWriteOkSince(freedAt), () => undefined);
    cycles.push({
      kind,
      sawFull,
      filledMs: fullFrom - filledAt,
      avail,
      reads: whileFull.filter((r) => r.method === 'GET').length,
      readsOk: whileFull.filter((r) => r.method === 'GET' && r.status === 200).length,
      writes: whileFull.filter((r) => r.method !== 'GET').length,
      writesFull: whileFull.filter((r) => r.method !== 'GET' && r.status !== 200 && r.status !== 201).length,
      recoveryMs: recoveredAt === undefined ? undefined : recoveredAt - freedAt,
      recoveredAt,
    });
    d.log(`cycle ${c + 1} (${kind}): ${fmt(Math.round(fillBytes / 1024))} KB filler; writes failing after ${fullFrom - filledAt} ms ` +
      `(${fmt(Math.round(avail / 1024))} KB left); while full the prober saw ${cycles[c].writesFull}/${cycles[c].writes} writes refused, ` +
      `${cycles[c].readsOk}/${cycles[c].reads} reads answered; ` +
      `${recoveredAt === undefined ? 'NO write accepted' : `first 201 ${recoveredAt - freedAt} ms`} after the filler was deleted`);
    await sleep(AFTER_MS);
  }
  await load.stop();
  prober.running = false;
  await probing;
  const aliveThroughout = svc.child.exitCode === null && svc.child.signalCode === null && svc.child.pid === pid;
  d.log(`load:   ${load.summary()}`);
  d.log(`prober: ${prober.results.length} requests (${prober.statusCounts()})`);

  svc.child.kill('SIGTERM');
  const exit = await svc.child.exited;
  const log = readFileSync(join(d.work, 'service-sqlite.log'), 'utf8');
  // the SQLite error behind each 507, by its message (the log has the cause's message, not its code)
  const causes = new Map();
  for (const m of log.matchAll(/"message":"the database disk is full: ([^"]+)"/g)) causes.set(m[1], (causes.get(m[1]) ?? 0) + 1);
  const codes = [...causes].map(([message, n]) => `${fmt(n)} × ${SQLITE_CODES[message] ?? message}`);
  d.log(`SQLite errors behind the 507s: ${codes.join(', ') || 'none'}`);

  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const integrity = db.pragma('integrity_check', { simple: true });
  const rows = db.prepare('SELECT id, title, description FROM todos').all();
  db.close();
  const audit = load.audit(rows);

  // every cycle: the disk filled, writes were refused, reads went on, writes came back
  d.check(`the disk filled and writes were refused in each of the ${CYCLES.length} cycle(s)`, cycles.every((c) => c.sawFull && c.writesFull > 0),
    cycles.map((c, i) => `cycle ${i + 1}: ${c.sawFull ? `${c.writesFull} refused` : 'writes never failed'}`).join('; '));
  const badStatuses = [...load.byStatus.keys(), ...prober.results.map((r) => r.status)]
    .filter((s) => ![200, 201, 503, 507].includes(s));
  d.check('every answer is 200, 201, 503 or 507 (no 500, no network error)', badStatuses.length === 0, [...new Set(badStatuses)].join(', '));
  const wrongFailures = load.failures.filter((f) => f.method === 'GET' || ![503, 507].includes(f.status));
  d.check(`the load's failures (${load.failures.length}) are all writes refused with 507 or 503`, wrongFailures.length === 0,
    wrongFailures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  const notProblems = prober.results.filter((r) => r.status >= 400 && !r.problem);
  d.check(`every refused write of the prober (${prober.results.filter((r) => r.status >= 400).length}) is an RFC 9457 problem with \`error\``,
    notProblems.length === 0, notProblems.slice(0, 3).map((r) => `${r.method} → ${r.status} ${r.why}`).join('; '));
  d.check('reads (by id and list) all answered 200 while the disk was full', cycles.every((c) => c.reads > 0 && c.readsOk === c.reads) &&
    load.failures.every((f) => f.method !== 'GET'), cycles.map((c) => `${c.readsOk}/${c.reads}`).join(', '));
  d.check(`writes answered 201 again within ${RECOVERY_LIMIT_MS / 1000} s of freeing the space, each cycle`,
    cycles.every((c) => c.recoveryMs !== undefined));
  // a failure after the first 201 (and the requests then in flight) would mean the service stayed half broken
  const late = load.failures.filter((f) => cycles.some((c) => c.recoveredAt !== undefined && f.at > c.recoveredAt + 1000 && f.at < c.recoveredAt + AFTER_MS));
  d.check('no write failed once writes worked again', late.length === 0, late.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}`).join('; '));
  d.check(`the service stayed up throughout, same process (pid ${pid}), and stopped cleanly`, aliveThroughout && exit.code === 0,
    `exit ${JSON.stringify(exit)}`);
  d.check('no unhandled error in the service log', !log.includes('"unhandled error"'));
  if (CYCLES.includes('snapshot')) {
    d.check('with a reader holding a snapshot, the WAL index ran out of room too (SQLITE_IOERR), still answered 507',
      causes.has('disk I/O error'), codes.join(', '));
  }
  d.check('PRAGMA integrity_check = ok', integrity === 'ok', String(integrity));
  d.check('every acknowledged write is in the database', audit.lost === 0, audit.examples.join('; '));
  d.check('no todo stored twice', audit.duplicates === 0, audit.examples.join('; '));

  const recoveries = cycles.map((c) => c.recoveryMs).filter((ms) => ms !== undefined);
  d.report({
    load: `${CLIENTS} clients at ${fmt(RATE)} req/s on SQLite in a ${TMPFS_KB / 1024} MB tmpfs, ${CYCLES.length} × fill/free (${CYCLES.join(', ')})`,
    seconds: Math.round(load.seconds),
    requests: load.requests + prober.results.length,
    failed: load.failures.length,
    acknowledged: load.acknowledged,
    lost: audit.lost,
    duplicates: audit.duplicates,
    recoveryMs: recoveries.length ? Math.max(...recoveries) : undefined,
    extra: `failed = writes refused with 507/503 while full (${fmt(load.byStatus.get(507) ?? 0)} × 507, ${fmt(load.byStatus.get(503) ?? 0)} × 503); ` +
      `reads 0 failed; integrity ok; SQLite errors: ${codes.join(', ') || 'none'}`,
  });
}, { hardLimitMs: short ? 120_000 : 240_000 });
