// No lost updates, no duplicate creates: ETag / If-Match / If-None-Match (RFC 9110 §13) and Idempotency-Key, on
// SQLite, PostgreSQL, and two replicas of one PostgreSQL (with and without the Redis cache), racing for real.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { MAIN, assertProblem, freshRedisPrefix, freshSchema, http, postgres, redis, startService, type Reply, type TestService } from '../support/helpers.js';

interface Todo {
  id: number;
  title: string;
  completed: boolean;
}
type Envelope = { message: string; todo: Todo; timestamp: string };

interface Setup {
  name: string;
  skip: string | undefined;
  /** One or more replicas of one database; requests are spread over them. */
  start(env?: Record<string, string>): Promise<{ replicas: TestService[]; dispose: () => Promise<void> }>;
}

const single = (name: string, skip: string | undefined, env: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>): Setup => ({
  name,
  skip,
  start: async (extra = {}) => {
    const { env: base, cleanup } = await env();
    const svc = await startService({ ...base, ...extra });
    return { replicas: [svc], dispose: async () => (await svc.dispose(), await cleanup()) };
  },
});

const twoReplicas = (withRedis: boolean): Setup => ({
  name: `two replicas of one PostgreSQL${withRedis ? ' + Redis' : ''}`,
  skip: postgres.skip ?? (withRedis ? redis.skip : undefined),
  start: async (extra = {}) => {
    const db = await freshSchema();
    const cache = withRedis ? freshRedisPrefix() : undefined;
    const env = { DATABASE_URL: db.url, ...(cache ? { REDIS_URL: cache.url, REDIS_KEY_PREFIX: cache.prefix } : {}), ...extra };
    const replicas = [await startService(env), await startService(env)];
    return {
      replicas,
      dispose: async () => {
        for (const r of replicas) await r.dispose();
        await cache?.clear();
        await db.drop();
      },
    };
  },
});

const setups: Setup[] = [
  single('SQLite', undefined, async () => ({ env: {}, cleanup: async () => undefined })),
  single('PostgreSQL', postgres.skip, async () => {
    const db = await freshSchema();
    return { env: { DATABASE_URL: db.url }, cleanup: db.drop };
  }),
  twoReplicas(false),
  twoReplicas(true),
];

for (const setup of setups) {
  describe(`write safety on ${setup.name}`, { skip: setup.skip }, () => {
    let replicas: TestService[];
    let dispose: () => Promise<void>;
    let turn = 0;
    /** The next replica, round robin: every test spreads its requests over all of them. */
    const next = () => replicas[turn++ % replicas.length]!.url;
    const create = async (title: string) => (await http<Envelope>(next(), 'POST', '/api/todos', { body: { title } })).body.todo;

    before(async () => {
      ({ replicas, dispose } = await setup.start());
    });
    after(async () => {
      await dispose();
    });

    test('every response with one todo carries a strong ETag, the same from every replica; If-None-Match is a 304', async () => {
      const created = await http<Envelope>(next(), 'POST', '/api/todos', { body: { title: 'tagged' } });
      const tag = created.headers.get('etag');
      assert.match(tag ?? '', /^"\d+\.1"$/);
      for (const replica of replicas) assert.equal((await http(replica.url, 'GET', `/api/todos/${created.body.todo.id}`)).headers.get('etag'), tag);
      const notModified = await fetch(`${next()}/api/todos/${created.body.todo.id}`, { headers: { 'if-none-match': tag! } });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.get('etag'), tag);
      assert.equal(await notModified.text(), '');
      assert.equal((await fetch(`${next()}/api/todos/${created.body.todo.id}`, { headers: { 'if-none-match': `W/${tag}` } })).status, 304, 'weak comparison');
      assert.equal((await http(next(), 'GET', `/api/todos/${created.body.todo.id}`, { headers: { 'if-none-match': '"0.0"' } })).status, 200);
      const updated = await http<Envelope>(next(), 'PATCH', `/api/todos/${created.body.todo.id}`, { body: { completed: true } });
      assert.equal(updated.headers.get('etag'), tag!.replace('.1"', '.2"'), 'an update bumps the version');
      // No replica (nor the Redis cache it reads through) serves the old version after the write was answered.
      for (const replica of replicas) assert.equal((await http(replica.url, 'GET', `/api/todos/${created.body.todo.id}`)).headers.get('etag'), updated.headers.get('etag'));
      const deleted = await http(next(), 'DELETE', `/api/todos/${created.body.todo.id}`);
      assert.equal(deleted.headers.get('etag'), updated.headers.get('etag'), 'a delete answers with the last version');
    });

    test('a stale If-Match on PUT, PATCH and DELETE is a 412 with the current ETag, and nothing changes', async () => {
      const todo = await create('original');
      const first = await http<Envelope>(next(), 'PUT', `/api/todos/${todo.id}`, { body: { title: 'first writer' }, headers: { 'if-match': `"${todo.id}.1"` } });
      assert.equal(first.status, 200);
      const current = first.headers.get('etag')!;
      for (const [method, body] of [['PUT', { title: 'lost update' }], ['PATCH', { completed: true }], ['DELETE', undefined]] as const) {
        const r = await http(next(), method, `/api/todos/${todo.id}`, { body, headers: { 'if-match': `"${todo.id}.1"` } });
        assertProblem(r, 412, assert);
        assert.equal(r.headers.get('etag'), current, `${method}: the 412 names the current version`);
      }
      for (const tag of [`W/${current}`, `"${todo.id + 1}.2"`, 'garbage']) {
        assertProblem(await http(next(), 'PATCH', `/api/todos/${todo.id}`, { body: { completed: true }, headers: { 'if-match': tag } }), 412, assert);
      }
      const now = await http<Envelope>(next(), 'GET', `/api/todos/${todo.id}`);
      assert.deepEqual([now.body.todo.title, now.body.todo.completed, now.headers.get('etag')], ['first writer', false, current]);
      // A list with the current tag matches; `*` matches any version; a missing todo stays a 404.
      assert.equal((await http(next(), 'PATCH', `/api/todos/${todo.id}`, { body: { completed: true }, headers: { 'if-match': `"x", ${current}` } })).status, 200);
      assert.equal((await http(next(), 'PATCH', `/api/todos/${todo.id}`, { body: {}, headers: { 'if-match': '*' } })).status, 200);
      assertProblem(await http(next(), 'DELETE', '/api/todos/999999', { headers: { 'if-match': '*' } }), 404, assert);
    });

    test('20 concurrent PUTs with the same If-Match: exactly one 200, nineteen 412', async () => {
      const todo = await create('contended');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => http(next(), 'PUT', `/api/todos/${todo.id}`, { body: { title: `writer ${i}` }, headers: { 'if-match': `"${todo.id}.1"` } })),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, ...Array(19).fill(412)]);
      const winner = results.find((r) => r.status === 200) as Reply<Envelope>;
      const stored = await http<Envelope>(next(), 'GET', `/api/todos/${todo.id}`);
      assert.equal(stored.body.todo.title, winner.body.todo.title, "the stored title is the winner's");
      assert.equal(stored.headers.get('etag'), `"${todo.id}.2"`, 'one write happened');
    });

    test('20 concurrent POSTs with one Idempotency-Key: exactly one todo; every answer a 201 (the same) or a 409', async () => {
      const key = randomUUID();
      const before = (await http<{ pagination: { total_items: number } }>(next(), 'GET', '/api/todos')).body.pagination.total_items;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => http<Envelope>(next(), 'POST', '/api/todos', { body: { title: 'once' }, headers: { 'idempotency-key': key } })),
      );
      assert.deepEqual([...new Set(results.map((r) => r.status))].filter((s) => s !== 201 && s !== 409), [], results.map((r) => r.status).join());
      const created = results.filter((r) => r.status === 201);
      assert.ok(created.length >= 1);
      assert.equal(new Set(created.map((r) => r.body.todo.id)).size, 1, 'every 201 names the same todo');
      for (const conflict of results.filter((r) => r.status === 409)) assert.equal(conflict.headers.get('retry-after'), '1');
      const after = (await http<{ pagination: { total_items: number } }>(next(), 'GET', '/api/todos')).body.pagination.total_items;
      assert.equal(after, before + 1, 'exactly one todo was created');
      // A later repeat, on any replica, replays the first answer byte for byte.
      const first = created.find((r) => r.headers.get('idempotent-replayed') === null) ?? created[0]!;
      const replay = await http<Envelope>(next(), 'POST', '/api/todos', { body: { title: 'once' }, headers: { 'idempotency-key': key } });
      assert.equal(replay.status, 201);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(replay.body, first.body);
      assert.equal(replay.headers.get('etag'), first.headers.get('etag'));
    });

    test('the same key with another body is a 422; a key is per request, for PUT and DELETE too', async () => {
      const key = randomUUID();
      assert.equal((await http(next(), 'POST', '/api/todos', { body: { title: 'one' }, headers: { 'idempotency-key': key } })).status, 201);
      assertProblem(await http(next(), 'POST', '/api/todos', { body: { title: 'two' }, headers: { 'idempotency-key': key } }), 422, assert);
      const todo = await create('to delete once');
      const deleteKey = `"${randomUUID()}"`; // as an sf-string, quoted
      assert.equal((await http(next(), 'DELETE', `/api/todos/${todo.id}`, { headers: { 'idempotency-key': deleteKey } })).status, 200);
      const again = await http(next(), 'DELETE', `/api/todos/${todo.id}`, { headers: { 'idempotency-key': deleteKey } });
      assert.equal(again.status, 200, 'a retried DELETE replays its 200 instead of a 404');
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assertProblem(await http(next(), 'POST', '/api/todos', { body: { title: 'x' }, headers: { 'idempotency-key': 'ä'.repeat(3) } }), 400, assert);
    });

    test('a write that fails gives its key back: the retry runs', async () => {
      const todo = await create('guarded');
      const key = randomUUID();
      const stale = await http(next(), 'PUT', `/api/todos/${todo.id}`, { body: { title: 'retry me' }, headers: { 'idempotency-key': key, 'if-match': `"${todo.id}.9"` } });
      assertProblem(stale, 412, assert);
      const retry = await http<Envelope>(next(), 'PUT', `/api/todos/${todo.id}`, { body: { title: 'retry me' }, headers: { 'idempotency-key': key, 'if-match': stale.headers.get('etag')! } });
      assert.equal(retry.status, 200);
      assert.equal(retry.body.todo.title, 'retry me');
    });
  });
}

test('an expired Idempotency-Key runs again', async () => {
  const svc = await startService({ IDEMPOTENCY_TTL_SECONDS: '1' });
  try {
    const key = randomUUID();
    const first = await http<Envelope>(svc.url, 'POST', '/api/todos', { body: { title: 'twice' }, headers: { 'idempotency-key': key } });
    const replay = await http<Envelope>(svc.url, 'POST', '/api/todos', { body: { title: 'twice' }, headers: { 'idempotency-key': key } });
    assert.equal(replay.body.todo.id, first.body.todo.id);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later = await http<Envelope>(svc.url, 'POST', '/api/todos', { body: { title: 'twice' }, headers: { 'idempotency-key': key } });
    assert.equal(later.status, 201);
    assert.notEqual(later.body.todo.id, first.body.todo.id, 'a new todo once the key expired');
    assert.equal(later.headers.get('idempotent-replayed'), null);
  } finally {
    await svc.dispose();
  }
});

test('REQUIRE_IF_MATCH=true: an unconditional PUT, PATCH or DELETE is a 428; with If-Match it goes through', async () => {
  const svc = await startService({ REQUIRE_IF_MATCH: 'true' });
  try {
    const created = await http<Envelope>(svc.url, 'POST', '/api/todos', { body: { title: 'strict' } });
    for (const [method, body] of [['PUT', { title: 'x' }], ['PATCH', { completed: true }], ['DELETE', undefined]] as const) {
      assertProblem(await http(svc.url, method, `/api/todos/${created.body.todo.id}`, { body }), 428, assert);
    }
    const ok = await http(svc.url, 'PATCH', `/api/todos/${created.body.todo.id}`, { body: { completed: true }, headers: { 'if-match': created.headers.get('etag')! } });
    assert.equal(ok.status, 200);
  } finally {
    await svc.dispose();
  }
});

test('Idempotency-Keys are per owner: two owners may use the same key', async () => {
  const svc = await startService({ AUTH_MODE: 'apikey' });
  try {
    const keyOf = async (owner: string) => {
      const { stdout } = await promisify(execFile)(process.execPath, [MAIN, 'apikey', 'create', '--owner', owner], { env: { PATH: process.env.PATH, DATABASE_URL: `sqlite:${svc.dbPath}` } });
      return stdout.trimEnd().split('\n').at(-1)!;
    };
    const shared = randomUUID();
    for (const owner of ['ann', 'ben']) {
      const r = await http<Envelope>(svc.url, 'POST', '/api/todos', { body: { title: 'same key' }, headers: { authorization: `Bearer ${await keyOf(owner)}`, 'idempotency-key': shared } });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('idempotent-replayed'), null, `${owner}'s first use runs`);
    }
  } finally {
    await svc.dispose();
  }
});
