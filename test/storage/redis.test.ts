// The Redis cache in trouble: an outage or a silent Redis causes no failed request, is logged once, and ends
// by itself; writes made while Redis was away are not hidden by old cache entries afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Todo } from '../../src/todos/repository.js';
import { freshRedisPrefix, freshSchema, http, postgres, redis, startService, type TestService } from '../support/helpers.js';
import { startProxy, type TcpProxy } from '../support/tcp-proxy.js';

describe('redis outages', { skip: postgres.skip ?? redis.skip }, () => {
  let db: Awaited<ReturnType<typeof freshSchema>>;
  let cache: ReturnType<typeof freshRedisPrefix>;
  let proxy: TcpProxy;
  let svc: TestService;
  let probe: Redis;

  before(async () => {
    db = await freshSchema();
    cache = freshRedisPrefix();
    const target = new URL(redis.url!);
    proxy = await startProxy(target.hostname, Number(target.port || 6379));
    svc = await startService({
      DATABASE_URL: db.url,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      REDIS_KEY_PREFIX: cache.prefix,
      REDIS_TIMEOUT_MS: '100',
    });
    probe = new Redis(redis.url!);
  });
  after(async () => {
    probe.disconnect();
    await svc.dispose();
    await proxy.close();
    await cache.clear();
    await db.drop();
  });

  const title = async (id: number) => (await http<{ todo: Todo }>(svc.url, 'GET', `/api/todos/${id}`)).body.todo.title;
  const cachedKeys = async () => (await probe.keys(`${cache.prefix}todo:*`)).length + (await probe.keys(`${cache.prefix}list:*`)).length;
  const logCount = (msg: string) => svc.logs.filter((l) => l.msg === msg).length;

  /** A burst of every kind of request; all must succeed. */
  async function traffic(ids: number[], round: string): Promise<void> {
    for (let i = 0; i < 40; i++) {
      const id = ids[i % ids.length]!;
      const results = await Promise.all([
        http(svc.url, 'GET', `/api/todos/${id}`),
        http(svc.url, 'GET', '/api/todos?limit=5'),
        http(svc.url, 'PATCH', `/api/todos/${id}`, { body: { description: `${round} ${i}` } }),
        http(svc.url, 'POST', '/api/todos', { body: { title: `${round} ${i}` } }),
      ]);
      for (const r of results) assert.ok(r.status < 300, `${round}: ${r.status} ${r.text}`);
    }
  }

  test('the cache is used while Redis is healthy', async () => {
    const id = (await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'cached' } })).body.todo.id;
    assert.equal(await title(id), 'cached');
    assert.equal(await title(id), 'cached');
    await http(svc.url, 'GET', '/api/todos');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok((await cachedKeys()) >= 2, 'entries were written to Redis');
  });

  test('Redis down: no failed request, one log line for the outage, one for the recovery; no stale reads after', async () => {
    const id = (await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'before outage' } })).body.todo.id;
    assert.equal(await title(id), 'before outage');
    assert.equal(await title(id), 'before outage'); // now served from the cache

    await proxy.down();
    await traffic([id], 'down');
    // This write's invalidation cannot reach Redis; the old cached title must not come back afterwards.
    assert.equal((await http(svc.url, 'PUT', `/api/todos/${id}`, { body: { title: 'written during outage' } })).status, 200);
    assert.equal(logCount('redis: unavailable, bypassing the cache until it answers again'), 1);

    await proxy.up();
    const deadline = Date.now() + 10_000;
    while (logCount('redis: answering again, cache back in use') === 0 || logCount('redis: epoch moved; cached entries from before are ignored') === 0) {
      assert.ok(Date.now() < deadline, 'the cache did not come back');
      assert.equal(await title(id), 'written during outage');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 5; i++) assert.equal(await title(id), 'written during outage');
    assert.equal(logCount('redis: unavailable, bypassing the cache until it answers again'), 1, 'one line per outage');
    assert.equal(logCount('redis: answering again, cache back in use'), 1);
  });

  test('Redis silent (hangs): requests still succeed, bounded by REDIS_TIMEOUT_MS', async () => {
    const id = (await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'slow redis' } })).body.todo.id;
    proxy.blackhole();
    await traffic([id], 'silent');
    assert.equal(logCount('redis: unavailable, bypassing the cache until it answers again'), 2, 'a second outage, logged once');
    await proxy.up();
    const deadline = Date.now() + 10_000;
    while (logCount('redis: answering again, cache back in use') < 2) {
      assert.ok(Date.now() < deadline, 'the cache did not come back');
      await http(svc.url, 'GET', `/api/todos/${id}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await title(id), /slow redis/);
  });
});

// Two replicas, each reaching Redis through a proxy of its own, so one can lose Redis while the other keeps it.
describe('two replicas and a Redis that comes back with what it held', { skip: postgres.skip ?? redis.skip }, () => {
  let db: Awaited<ReturnType<typeof freshSchema>>;
  let cache: ReturnType<typeof freshRedisPrefix>;
  let proxyA: TcpProxy;
  let proxyB: TcpProxy;
  let a: TestService;
  let b: TestService;

  before(async () => {
    db = await freshSchema();
    cache = freshRedisPrefix();
    const target = new URL(redis.url!);
    proxyA = await startProxy(target.hostname, Number(target.port || 6379));
    proxyB = await startProxy(target.hostname, Number(target.port || 6379));
    const env = (proxy: TcpProxy) => ({ DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: cache.prefix, REDIS_TIMEOUT_MS: '100' });
    a = await startService(env(proxyA));
    b = await startService(env(proxyB));
  });
  after(async () => {
    await a.dispose();
    await b.dispose();
    await Promise.all([proxyA.close(), proxyB.close()]);
    await cache.clear();
    await db.drop();
  });

  const description = async (svc: TestService, id: number) => (await http<{ todo: Todo }>(svc.url, 'GET', `/api/todos/${id}`)).body.todo.description;
  const listed = async (svc: TestService, id: number) =>
    (await http<{ todos: Todo[] }>(svc.url, 'GET', '/api/todos?limit=100')).body.todos.find((t) => t.id === id)?.description;
  const hits = async (svc: TestService) => {
    const text = await (await fetch(`${svc.managementUrl}/metrics`)).text();
    return Number(/^cache_requests_total\{result="hit"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };
  /** A todo whose entry and list page B has cached. */
  async function cachedThroughB(title: string): Promise<number> {
    const id = (await http<{ todo: Todo }>(b.url, 'POST', '/api/todos', { body: { title, description: 'before' } })).body.todo.id;
    for (let i = 0; i < 2; i++) {
      assert.equal(await description(b, id), 'before');
      assert.equal(await listed(b, id), 'before');
    }
    return id;
  }

  test('a replica whose own writes never failed does not serve entries from before a write the other made while Redis was away', async () => {
    const id = await cachedThroughB('restored');
    await Promise.all([proxyA.down(), proxyB.down()]); // Redis gone for both: killed
    assert.equal((await http(a.url, 'PATCH', `/api/todos/${id}`, { body: { description: 'written while Redis was away' } })).status, 200);
    // Redis is back for B, with the entries and generations it held (as from its append-only file); A, which
    // missed the invalidation and would move the epoch, cannot reach it yet.
    await proxyB.up();
    const before = await hits(b);
    const deadline = Date.now() + 10_000;
    while ((await hits(b)) <= before + 2) {
      assert.ok(Date.now() < deadline, 'B did not use the cache again');
      assert.equal(await description(b, id), 'written while Redis was away', 'stale todo through B');
      assert.equal(await listed(b, id), 'written while Redis was away', 'stale list page through B');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 3; i++) assert.equal(await description(b, id), 'written while Redis was away');
    await proxyA.up();
  });

  test('an Idempotency-Key repeat answered from the receipt retires entries its first request could not', async () => {
    const id = await cachedThroughB('replayed');
    // A commits the write and answers, but cannot bump the generations (it died, or lost Redis, just then).
    await proxyA.down();
    const patch = { body: { description: 'after' }, headers: { 'idempotency-key': `replay-${id}` } };
    assert.equal((await http(a.url, 'PATCH', `/api/todos/${id}`, patch)).status, 200);
    // The client did not get that answer and repeats the request through B: the stored receipt answers it.
    const repeat = await http(b.url, 'PATCH', `/api/todos/${id}`, patch);
    assert.equal(repeat.status, 200);
    assert.equal(repeat.headers.get('idempotent-replayed'), 'true');
    assert.equal(await description(b, id), 'after', 'stale todo after the repeat was answered');
    assert.equal(await listed(b, id), 'after', 'stale list page after the repeat was answered');
    await proxyA.up();
  });
});
