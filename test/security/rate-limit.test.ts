// Attack family: one client sending as fast as it can. 4,000 POSTs in 4 s used to all be 201. With
// RATE_LIMIT_MAX set, past the limit a client gets 429 problems with Retry-After and RateLimit-* headers, and
// its refused writes change nothing. Counted in memory, or in Redis so that the limit holds across replicas;
// when Redis stops answering the limiter lets requests through (fail open), never a 5xx.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { MAIN, assertProblem, freshRedisPrefix, http, redis, startService, waitFor, type TestService } from '../support/helpers.js';
import { startProxy, type TcpProxy } from '../support/tcp-proxy.js';

const run = promisify(execFile);
const MAX = 5;
const limited = { RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_MS: '60000' };

async function total(svc: TestService): Promise<number> {
  // Read as a client of its own (another forwarded address): the read spends nothing of the budget under test.
  const r = await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos', { headers: { 'x-forwarded-for': '203.0.113.250' } });
  assert.equal(r.status, 200, r.text);
  return r.body.pagination.total_items;
}

describe('rate limit, in memory', () => {
  let svc: TestService;
  before(async () => {
    // TRUST_PROXY: the client address comes from X-Forwarded-For, so each test can be a client of its own.
    svc = await startService({ ...limited, TRUST_PROXY: 'true' });
  });
  after(async () => {
    await svc.dispose();
  });

  test(`past ${MAX} requests a client gets 429 problems with Retry-After and RateLimit-*; its writes change nothing`, async () => {
    const client = { 'x-forwarded-for': '203.0.113.1' };
    for (let i = 0; i < MAX; i++) {
      const r = await http(svc.url, 'POST', '/api/todos', { body: { title: `ok ${i}` }, headers: client });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('ratelimit-limit'), String(MAX));
      assert.equal(r.headers.get('ratelimit-remaining'), String(MAX - 1 - i));
    }
    const before = await total(svc);
    for (const [method, path] of [['POST', '/api/todos'], ['PUT', '/api/todos/1'], ['DELETE', '/api/todos/1'], ['GET', '/api/todos'], ['GET', '/']] as const) {
      const r = await http(svc.url, method, path, { body: method === 'GET' || method === 'DELETE' ? undefined : { title: 'refused' }, headers: client });
      assertProblem(r, 429, assert);
      assert.equal((r.body as { type: string }).type, 'urn:todo-service:problem:rate-limited');
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
      assert.equal(r.headers.get('ratelimit-remaining'), '0');
      assert.ok(Number(r.headers.get('ratelimit-reset')) > 0);
    }
    assert.equal(await total(svc), before, 'nothing was stored or deleted');
    const todo = await http<{ todo: { title: string } }>(svc.url, 'GET', '/api/todos/1', { headers: { 'x-forwarded-for': '203.0.113.251' } });
    assert.equal(todo.body.todo.title, 'ok 0', 'the refused PUT changed nothing');
  });

  test('another client has its own budget', async () => {
    for (let i = 0; i < MAX + 2; i++) await http(svc.url, 'GET', '/api/todos', { headers: { 'x-forwarded-for': '203.0.113.2' } });
    const other = await http(svc.url, 'GET', '/api/todos', { headers: { 'x-forwarded-for': '203.0.113.3' } });
    assert.equal(other.status, 200);
  });

  test('probes, metrics and /health are never limited', async () => {
    const client = { 'x-forwarded-for': '203.0.113.4' };
    for (let i = 0; i < MAX * 4; i++) {
      for (const path of ['/livez', '/readyz', '/metrics', '/metrics/json', '/health']) {
        const r = await fetch(svc.url + path, { headers: client });
        await r.arrayBuffer();
        assert.equal(r.status, 200, `${path} #${i}`);
        assert.equal(r.headers.get('ratelimit-limit'), null, `${path} is not counted`);
      }
    }
    // And they spent nothing of the client's budget.
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: client })).status, 200);
  });
});

test('an authenticated caller is counted by its owner: two owners from one address each have their budget', async () => {
  const svc = await startService({ ...limited, AUTH_MODE: 'apikey' });
  try {
    // Made with the CLI, asynchronously: a blocked event loop would be this in-process service's too.
    const keys: string[] = [];
    for (const owner of ['owner-a', 'owner-b']) {
      const { stdout } = await run(process.execPath, [MAIN, 'apikey', 'create', '--owner', owner], { env: { PATH: process.env.PATH, DATABASE_URL: `sqlite:${svc.dbPath}` } });
      keys.push(stdout.trimEnd().split('\n').at(-1)!);
    }
    const statuses = async (key: string) => {
      const out: number[] = [];
      for (let i = 0; i < MAX + 1; i++) out.push((await http(svc.url, 'GET', '/api/todos', { headers: { authorization: `Bearer ${key}` } })).status);
      return out;
    };
    const limitedOnce = [...Array(MAX).fill(200), 429];
    assert.deepEqual(await statuses(keys[0]!), limitedOnce);
    assert.deepEqual(await statuses(keys[1]!), limitedOnce, 'the second owner, from the same address, starts with a full budget');
  } finally {
    await svc.dispose();
  }
});

describe('rate limit, in Redis', { skip: redis.skip }, () => {
  let a: TestService;
  let b: TestService;
  let proxy: TcpProxy;
  let cache: ReturnType<typeof freshRedisPrefix>;
  before(async () => {
    cache = freshRedisPrefix();
    const target = new URL(cache.url);
    proxy = await startProxy(target.hostname, Number(target.port || 6379));
    const env = { ...limited, TRUST_PROXY: 'true', REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: cache.prefix };
    a = await startService(env);
    b = await startService(env);
  });
  after(async () => {
    await a.dispose();
    await b.dispose();
    await proxy.close();
    await cache.clear();
  });

  test('the limit holds across two replicas sharing Redis', async () => {
    const client = { 'x-forwarded-for': '198.51.100.1' };
    const statuses: number[] = [];
    for (let i = 0; i < MAX + 3; i++) {
      const replica = i % 2 === 0 ? a : b;
      statuses.push((await http(replica.url, 'GET', '/api/todos', { headers: client })).status);
    }
    assert.deepEqual(statuses, [...Array(MAX).fill(200), 429, 429, 429]);
  });

  test('Redis stopped mid-test: requests pass uncounted (no 5xx), one log line; counted again once it is back', async () => {
    const client = { 'x-forwarded-for': '198.51.100.2' };
    assert.equal((await http(a.url, 'GET', '/api/todos', { headers: client })).status, 200);
    await proxy.down();
    for (let i = 0; i < MAX * 3; i++) {
      const r = await http(a.url, 'GET', '/api/todos', { headers: client });
      assert.equal(r.status, 200, `request ${i} while Redis is down: ${r.text}`);
    }
    const warnings = a.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('rate limit: Redis unavailable'));
    assert.equal(warnings.length, 1, 'one log line for the outage');

    await proxy.up();
    // Once Redis answers again the client is counted, and soon limited.
    await waitFor('a 429 once Redis is back', async () => ((await http(a.url, 'GET', '/api/todos', { headers: client })).status === 429 ? true : undefined));
    assert.ok(a.logs.some((l) => l.msg === 'rate limit: Redis answering again, counting in it'));
  });
});
