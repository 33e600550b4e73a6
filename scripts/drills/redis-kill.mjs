// Drill: Redis killed with SIGKILL under load and restarted from its append-only file, so it comes back with the
// cache as it was at the kill: entries and generation numbers from before the writes made while it was away. Two
// replicas of one PostgreSQL share it; plain clients (each request sent once) alternate between them.
//
// Each round under load: the drill's own probe todos are cached through both replicas, Redis is killed, the probes
// are updated (and new ones created) while it is down, Redis comes back, and for a few seconds every probe and the
// first list page are read through both replicas and compared with what the drill wrote (it is their only
// writer). A last round runs with the load stopped: a write through one replica while Redis is down, then reads
// through the other, which saw no failed write of its own and so has no reason of its own to distrust the cache.
// Passes when: no request fails (the service falls back to the database while Redis is gone), no read returns
// an older value than the one acknowledged before it, every acknowledged write is in the database, and both
// replicas use the cache again after each restart.
import { Load, PostgresCluster, RedisServer, Service, drill, fmt, short, sleep, waitFor } from './lib.mjs';

const LOAD_ROUNDS = short ? 1 : 4; // plus the quiet round: 2 kills in the short form, 5 in the full one
const CLIENTS = 16;
const DOWN_MS = 3000; // how long Redis stays dead
const PROBE_MS = 4000; // how long the probes are read after Redis is back
const BETWEEN_MS = short ? 2000 : 3000;
const PAGE = '/api/todos?page=1&limit=10';

/** Creates acknowledged so far: a first list page's total can never be below this. */
function acknowledgedCreates(load, probe) {
  let n = probe.todos.size;
  for (const t of load.todos.values()) if (t.id !== undefined) n++;
  return n;
}

/** How many of these todos have an entry in Redis (any owner, epoch, generation). */
function cachedEntries(redis, todos) {
  return todos.filter((t) => redis.cli('--scan', '--pattern', `todo:todo:*:${t.id}:e*`) !== '').length;
}

async function cacheHits(r) {
  const text = await (await fetch(`${r.managementUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return Number(/^cache_requests_total\{[^}]*result="hit"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** ms from Redis back until both replicas answer reads from it again (their cache hits rise); undefined if never. */
async function cacheInUseAgain(replicas, hitsBefore, backAt) {
  try {
    await waitFor('both replicas to hit the cache again', async () => {
      const now = await Promise.all(replicas.map(cacheHits));
      return now.every((n, i) => n > hitsBefore[i]);
    }, 20_000, 25);
    return Date.now() - backAt;
  } catch {
    return undefined;
  }
}

/**
 * The drill's own todos (titles `probe …`): it is their only writer, so the value it last had acknowledged is the
 * one every later read must return.
 */
class Probe {
  constructor() {
    this.todos = new Map(); // id → { id, title, description, uncertain }
    this.requests = 0;
    this.acknowledged = 0;
    this.reads = 0;
    this.pageReads = 0;
    this.failures = [];
    this.stale = [];
  }

  async send(r, method, path, body, expect) {
    this.requests++;
    let status;
    let json;
    try {
      const res = await fetch(r.url + path, {
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
    if (status !== expect) this.failures.push({ at: Date.now(), method, path: `${path} via ${r.name}`, status, detail: json?.detail });
    return status === expect ? json : undefined;
  }

  async create(r, what) {
    const title = `probe ${what}`;
    const json = await this.send(r, 'POST', '/api/todos', { title }, 201);
    if (!json) throw new Error(`could not create ${title} through ${r.name}`);
    this.acknowledged++;
    const t = { id: json.todo.id, title, description: '' };
    this.todos.set(t.id, t);
    return t;
  }

  async update(r, t, description) {
    const json = await this.send(r, 'PATCH', `/api/todos/${t.id}`, { description }, 200);
    if (json) {
      this.acknowledged++;
      t.description = description;
    } else t.uncertain = true; // may or may not have happened: no read of it can be judged
  }

  async read(r, t, when = '') {
    const json = await this.send(r, 'GET', `/api/todos/${t.id}`, undefined, 200);
    if (!json || t.uncertain || !when) return;
    this.reads++;
    if (json.todo.description !== t.description) {
      this.stale.push(`${when}: ${t.title} (#${t.id}) through ${r.name}: ${JSON.stringify(json.todo.description)}, acknowledged ${JSON.stringify(t.description)}`);
    }
  }

  /** The first list page: the drill's ten todos as last acknowledged, and a total no lower than the creates acknowledged. */
  async readPage(r, page, minTotal, when = '') {
    const json = await this.send(r, 'GET', PAGE, undefined, 200);
    if (!json || !when) return;
    this.reads++;
    this.pageReads++;
    const wrong = page.filter((t, i) => !t.uncertain && (json.todos[i]?.id !== t.id || json.todos[i]?.description !== t.description));
    if (wrong.length > 0 || json.pagination.total_items < minTotal) {
      const t = wrong[0];
      const got = t && json.todos.find((x) => x.id === t.id);
      this.stale.push(`${when}: first page through ${r.name}: ` + (t
        ? `${t.title} (#${t.id}) ${JSON.stringify(got?.description)}, acknowledged ${JSON.stringify(t.description)}`
        : `total ${json.pagination.total_items}, ${minTotal} creates acknowledged before the read`));
    }
  }

  /** Reads the todos and the first page through every replica, over and over, for `ms`. */
  async readFor(ms, replicas, todos, page, minTotal) {
    const until = Date.now() + ms;
    let n = 0;
    while (Date.now() < until) {
      const when = `${todos.some((t) => t.title.includes('quiet')) ? 'quiet round' : 'after restart'} read ${++n}`;
      for (const r of replicas) {
        for (const t of todos) await this.read(r, t, when);
        await this.readPage(r, page, minTotal(), when);
      }
    }
  }
}

await drill('redis-kill', async (d) => {
  const pg = await (await new PostgresCluster(d).init()).start();
  const redis = await new RedisServer(d, { persist: true }).start();
  const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url };
  const [a, b] = [new Service(d, 'A', env), new Service(d, 'B', env)];
  await Promise.all([a.start(), b.start()]);
  const replicas = [a, b];
  d.log(`2 replicas (PostgreSQL :${pg.port}, Redis :${redis.port} with an append-only file); ${LOAD_ROUNDS} kills under load + 1 quiet`);

  const probe = new Probe();
  // The first ten todos are the drill's: the first list page (ascending ids) is theirs alone, so it can be
  // compared item by item while the load creates todos behind it.
  const page = [];
  for (let i = 0; i < 10; i++) page.push(await probe.create(replicas[i % 2], `page ${i}`));
  for (const r of replicas) await probe.readPage(r, page, 0);

  const load = new Load({ urls: [a.url, b.url], clients: CLIENTS, tag: 'plain' }).start();
  const kills = []; // { round, recoveryMs }
  const restored = []; // per restart: whether Redis came back holding the probes' entries from before the kill
  await sleep(2000);

  for (let round = 0; round < LOAD_ROUNDS; round++) {
    // probes cached through both replicas before the kill
    const before = [];
    for (let i = 0; i < 2; i++) before.push(await probe.create(replicas[i % 2], `r${round} before ${i}`));
    for (const r of replicas) for (const t of [...before, page[round % 10]]) await probe.read(r, t);
    for (const r of replicas) await probe.readPage(r, page, acknowledgedCreates(load, probe));

    await redis.kill9();
    const downAt = Date.now();
    // written while Redis is down: updates of cached probes and of a todo on the first page, and new probes
    const during = [];
    for (const [i, t] of [...before, page[round % 10]].entries()) await probe.update(replicas[i % 2], t, `r${round} during ${i}`);
    for (let i = 0; i < 2; i++) {
      const t = await probe.create(replicas[(i + 1) % 2], `r${round} during new ${i}`);
      during.push(t);
      await probe.read(replicas[i % 2], t); // a miss while Redis is down: nothing may be cached from it
      await probe.update(replicas[i % 2], t, `r${round} during new ${i} updated`);
    }
    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));

    const hits = await Promise.all(replicas.map(cacheHits));
    await redis.start();
    const backAt = Date.now();
    restored.push(cachedEntries(redis, before) === before.length);
    const [recoveryMs] = await Promise.all([
      cacheInUseAgain(replicas, hits, backAt),
      probe.readFor(PROBE_MS, replicas, [...before, ...during, page[round % 10]], page, () => acknowledgedCreates(load, probe)),
    ]);
    kills.push({ round, recoveryMs });
    await sleep(BETWEEN_MS);
  }
  await load.stop();
  d.log(`load:   ${load.summary()}`);

  // The quiet round: nothing but the drill's requests. X is cached through both replicas, Redis is killed, X and a
  // first-page todo are updated through A only, Redis comes back with X's old entry and generations, and B —
  // whose own writes never failed — reads X and the page.
  const x = await probe.create(a, 'quiet x');
  for (const r of [a, b, a, b]) await probe.read(r, x);
  for (const r of replicas) await probe.readPage(r, page, acknowledgedCreates(load, probe));
  await redis.kill9();
  await probe.update(a, x, 'quiet x v2');
  await probe.update(a, page[9], 'quiet page v2');
  await sleep(DOWN_MS);
  const quietHits = await Promise.all(replicas.map(cacheHits));
  await redis.start();
  const quietBack = Date.now();
  restored.push(cachedEntries(redis, [x]) === 1);
  const [quietRecovery] = await Promise.all([
    cacheInUseAgain(replicas, quietHits, quietBack),
    probe.readFor(PROBE_MS, [b, a], [x, page[9]], page, () => acknowledgedCreates(load, probe)),
  ]);
  kills.push({ round: 'quiet', recoveryMs: quietRecovery });

  // what the database holds
  const rows = await pg.query('SELECT id, title, description FROM todos');
  const audit = load.audit(rows);
  const probeRows = new Map(rows.filter((r) => r.title.startsWith('probe ')).map((r) => [Number(r.id), r]));
  const probeLost = [...probe.todos.values()].filter((t) => !t.uncertain && probeRows.get(t.id)?.description !== t.description);
  const stale = probe.stale;
  d.log(`probes: ${fmt(probe.reads)} reads through both replicas after Redis came back (${fmt(probe.pageReads)} of them list pages), ${fmt(probe.stale.length)} stale`);
  d.log(`kills: ${kills.map((k) => `cache in use again ${(k.recoveryMs / 1000).toFixed(2)} s after round ${k.round}`).join(', ')}`);

  const failures = [...load.failures, ...probe.failures];
  d.check(`no request failed while Redis was down or coming back (${fmt(load.requests + probe.requests)} requests)`, failures.length === 0,
    failures.slice(0, 5).map((f) => `${f.method} ${f.path} → ${f.status}${f.detail ? ` (${f.detail})` : ''}`).join('; '));
  const staleUnderLoad = stale.filter((s) => !s.includes('quiet'));
  d.check('under load: no stale read of a todo or list page once Redis was back (writes made while it was down)', staleUnderLoad.length === 0,
    staleUnderLoad.slice(0, 5).join('; '));
  d.check('the quiet round: a replica that wrote nothing during the outage serves the write made through the other one',
    !stale.some((s) => s.includes('quiet')), stale.filter((s) => s.includes('quiet')).slice(0, 3).join('; '));
  d.check('every acknowledged write of the load is in the database', audit.lost === 0, audit.examples.join('; '));
  d.check('no todo stored twice', audit.duplicates === 0, audit.examples.join('; '));
  d.check('every acknowledged probe write is in the database', probeLost.length === 0,
    probeLost.slice(0, 5).map((t) => `#${t.id} ${JSON.stringify(probeRows.get(t.id)?.description)} ≠ ${JSON.stringify(t.description)}`).join('; '));
  d.check('each restarted Redis held the probes\' entries from before the kill (the old data not to be served)', restored.every(Boolean),
    `${restored.filter(Boolean).length} of ${restored.length} restarts`);
  d.check(`both replicas used the cache again after each of the ${kills.length} restarts`, kills.every((k) => k.recoveryMs !== undefined));

  const worst = Math.max(...kills.map((k) => k.recoveryMs ?? Infinity));
  d.report({
    load: `${CLIENTS} clients alternating 2 replicas, ${kills.length} × kill -9 of Redis (append-only file)`,
    seconds: Math.round(load.seconds),
    requests: load.requests + probe.requests,
    failed: failures.length,
    acknowledged: load.acknowledged + probe.acknowledged,
    lost: audit.lost + probeLost.length,
    duplicates: audit.duplicates,
    recoveryMs: worst,
    extra: `${fmt(stale.length)} stale reads of ${fmt(probe.reads)} probes`,
  });
}, { hardLimitMs: short ? 150_000 : 300_000 });
