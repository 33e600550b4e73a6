// Probes and metrics: /livez, /readyz (and what makes it fail), the management port, and /metrics parsed
// and checked — by a parser here and by promtool when it is installed (CI installs it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Todo } from '../../src/todos/repository.js';
import { assertProblem, freshRedisPrefix, freshSchema, http, postgres, redis, spawnService, startService, type TestService } from '../support/helpers.js';
import { startProxy } from '../support/tcp-proxy.js';

interface Sample {
  labels: Record<string, string>;
  value: string;
}
interface Family {
  type: string;
  help: string;
  samples: Map<string, Sample[]>; // by sample name: `x`, or `x_count`, `x_sum`, `x_bucket` for a histogram
}

/** Reads the text exposition format: # HELP / # TYPE lines, then `name{label="value",…} number` samples. */
async function scrape(base: string): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const line of (await res.text()).split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      current = families.get(meta[2]!) ?? { type: '', help: '', samples: new Map() };
      families.set(meta[2]!, current);
      if (meta[1] === 'TYPE') current.type = meta[3]!;
      else current.help = meta[3]!;
      continue;
    }
    const s = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!s || !current) continue;
    const labels = Object.fromEntries([...(s[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    const list = current.samples.get(s[1]!) ?? [];
    list.push({ labels, value: s[3]! });
    current.samples.set(s[1]!, list);
  }
  return families;
}

/** The value of the sample `name` (default: the family name) whose labels include `labels`. */
function sample(family: Family | undefined, labels: Record<string, string>, name?: string): string | undefined {
  const [first] = family?.samples.keys() ?? [];
  return family?.samples
    .get(name ?? first ?? '')
    ?.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;
}

const promtool = spawnSync('promtool', ['--version']).status === 0;
const promtoolSkip = promtool ? undefined : 'promtool is not installed (Debian package prometheus; .ci/run installs it)';
if (promtoolSkip) {
  if (process.env.CI) throw new Error(`CI must check /metrics with promtool: ${promtoolSkip}`);
  process.stderr.write(`# skipping: ${promtoolSkip}\n`);
}

describe('probes', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.dispose();
  });

  test('/livez and /readyz answer 200; GET and HEAD work on them and on /health', async () => {
    assert.deepEqual((await http(svc.url, 'GET', '/livez')).body, { status: 'alive' });
    const ready = await http<{ status: string; checks: Record<string, string> }>(svc.url, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', shutdown: 'ok' } });
    for (const path of ['/livez', '/readyz', '/health']) {
      const head = await fetch(svc.url + path, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(await head.text(), '');
    }
  });

  test('probes and scrapes are not logged line by line; API requests are', async () => {
    const before = svc.logs.length;
    await http(svc.url, 'GET', '/livez');
    await http(svc.url, 'GET', '/readyz');
    await http(svc.url, 'GET', '/metrics');
    await http(svc.url, 'GET', '/api/todos');
    await new Promise((r) => setTimeout(r, 20));
    const lines = svc.logs.slice(before).filter((l) => l.msg === 'request completed');
    assert.deepEqual(lines.map((l) => l.url), ['/api/todos']);
  });

  test('/metrics/json keeps the Go reference runtime view', async () => {
    const r = await http<{ memory: Record<string, number>; runtime: Record<string, unknown>; uptime_seconds: number; timestamp: string }>(svc.url, 'GET', '/metrics/json');
    assert.equal(r.status, 200);
    assert.ok(r.body.memory.rss_bytes! > 0);
    assert.equal(r.body.runtime.version, process.version);
    assert.ok(r.body.uptime_seconds >= 0);
  });
});

describe('readiness follows the dependencies', { skip: postgres.skip ?? redis.skip }, () => {
  test('database down → 503 problem naming the database; Redis down → degraded but ready, unless required', async () => {
    const db = await freshSchema();
    const cache = freshRedisPrefix();
    const pgTarget = new URL(postgres.url!);
    const redisTarget = new URL(redis.url!);
    const pgProxy = await startProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    const redisProxy = await startProxy(redisTarget.hostname, Number(redisTarget.port || 6379));
    const dbUrl = new URL(db.url);
    dbUrl.hostname = '127.0.0.1';
    dbUrl.port = String(pgProxy.port);
    const env = { DATABASE_URL: dbUrl.toString(), REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`, REDIS_KEY_PREFIX: cache.prefix, DB_STATEMENT_TIMEOUT_MS: '1000' };
    const lenient = await startService(env);
    const strict = await startService({ ...env, READINESS_REQUIRES_REDIS: 'true' });
    try {
      assert.deepEqual((await http(lenient.url, 'GET', '/readyz')).body, { status: 'ready', checks: { database: 'ok', redis: 'ok', shutdown: 'ok' } });

      await redisProxy.down();
      const degraded = await http<{ checks: Record<string, string> }>(lenient.url, 'GET', '/readyz');
      assert.equal(degraded.status, 200);
      assert.match(degraded.body.checks.redis!, /^degraded: /);
      const failing = await http<{ checks: Record<string, string>; detail: string }>(strict.url, 'GET', '/readyz');
      assertProblem(failing, 503, assert);
      assert.match(failing.body.checks.redis!, /^failed: /);
      assert.match(failing.body.detail, /redis/);
      await redisProxy.up();

      await pgProxy.down();
      const noDb = await http<{ checks: Record<string, string>; detail: string }>(lenient.url, 'GET', '/readyz');
      assertProblem(noDb, 503, assert);
      assert.match(noDb.body.checks.database!, /^failed: /);
      assert.match(noDb.body.detail, /database/);
      assert.equal((await http(lenient.url, 'GET', '/livez')).status, 200, 'liveness does not depend on the database');
      await pgProxy.up();
      const deadline = Date.now() + 10_000;
      while ((await http(lenient.url, 'GET', '/readyz')).status !== 200) {
        assert.ok(Date.now() < deadline, 'readiness did not come back');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await lenient.dispose();
      await strict.dispose();
      await pgProxy.close();
      await redisProxy.close();
      await cache.clear();
      await db.drop();
    }
  });
});

test('SIGTERM: /readyz turns 503 at once while the API keeps serving for SHUTDOWN_DELAY_MS, then exit 0', async () => {
  const proc = await spawnService({ SHUTDOWN_DELAY_MS: '1500' });
  assert.equal((await http(proc.url, 'GET', '/readyz')).status, 200);
  proc.child.kill('SIGTERM');
  await proc.waitForLog('shutting down: not ready any more, still serving');
  const ready = await http<{ checks: Record<string, string> }>(proc.url, 'GET', '/readyz');
  assertProblem(ready, 503, assert);
  assert.equal(ready.body.checks.shutdown, 'failed: shutting down');
  assert.equal((await http(proc.url, 'POST', '/api/todos', { body: { title: 'during the delay' } })).status, 201);
  assert.equal((await http(proc.url, 'GET', '/livez')).status, 200);
  assert.equal(await proc.exit, 0);
});

describe('MANAGEMENT_PORT', () => {
  test('probes and metrics move to their own listener, away from the API port', async () => {
    const svc = await startService({ MANAGEMENT_PORT: '0' });
    try {
      assert.notEqual(svc.managementUrl, svc.url);
      for (const path of ['/livez', '/readyz', '/metrics', '/metrics/json']) {
        assert.equal((await fetch(svc.managementUrl + path)).status, 200, path);
        assertProblem(await http(svc.url, 'GET', path), 404, assert);
      }
      assert.equal((await http(svc.url, 'GET', '/health')).status, 200);
      assertProblem(await http(svc.managementUrl, 'GET', '/api/todos'), 404, assert);
    } finally {
      await svc.dispose();
    }
  });
});

describe('metrics', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
    const created = await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'measured' } });
    await http(svc.url, 'GET', `/api/todos/${created.body.todo.id}`);
    await http(svc.url, 'GET', '/api/todos/987654');
    await http(svc.url, 'GET', '/no/such/path/123');
  });
  after(async () => {
    await svc.dispose();
  });

  test('requests are counted by method, route template and status; durations and sizes per route', async () => {
    const m = await scrape(svc.url);
    const requests = m.get('http_requests_total');
    assert.equal(requests?.type, 'counter');
    assert.equal(sample(requests, { method: 'POST', route: '/api/todos', status_code: '201' }), '1');
    assert.equal(sample(requests, { method: 'GET', route: '/api/todos/:id', status_code: '200' }), '1');
    assert.equal(sample(requests, { method: 'GET', route: '/api/todos/:id', status_code: '404' }), '1');
    assert.equal(sample(requests, { method: 'GET', route: 'unmatched', status_code: '404' }), '1');
    for (const s of requests.samples.get('http_requests_total')!) assert.doesNotMatch(s.labels.route!, /\d/, 'route labels are templates, never raw URLs');

    const duration = m.get('http_request_duration_seconds');
    assert.equal(duration?.type, 'histogram');
    assert.equal(sample(duration, { method: 'POST', route: '/api/todos', status_code: '201' }, 'http_request_duration_seconds_count'), '1');
    assert.equal(sample(duration, { method: 'POST', route: '/api/todos', status_code: '201', le: '+Inf' }, 'http_request_duration_seconds_bucket'), '1');
    assert.equal(m.get('http_response_size_bytes')?.type, 'histogram');
    assert.equal(sample(m.get('http_requests_in_flight'), {}), '1', 'the scrape itself is in flight');
  });

  test('runtime, build, database and business metrics', async () => {
    const m = await scrape(svc.url);
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_utilization_ratio', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds', 'process_resident_memory_bytes']) {
      assert.ok(m.has(name), `${name} is exported`);
    }
    for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
      assert.match(sample(m.get('nodejs_gc_duration_seconds'), { kind }, 'nodejs_gc_duration_seconds_count') ?? '', /^\d+$/, `GC kind ${kind} is exported`);
    }
    assert.equal(sample(m.get('todo_service_build_info'), { node_version: process.version, storage: 'sqlite', version: '1.0.0' }), '1');
    assert.equal(sample(m.get('todos_stored'), {}), '1');
    assert.equal(sample(m.get('db_query_duration_seconds'), { operation: 'create', outcome: 'ok' }, 'db_query_duration_seconds_count'), '1');
    assert.equal(sample(m.get('db_query_duration_seconds'), { operation: 'get', outcome: 'ok' }, 'db_query_duration_seconds_count'), '2');
  });

  test('the exposition passes `promtool check metrics` with no findings', { skip: promtoolSkip }, async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal((r.stdout + r.stderr).trim(), '', `promtool findings:\n${r.stdout}${r.stderr}`);
  });
});

describe('metrics with PostgreSQL and Redis', { skip: postgres.skip ?? redis.skip }, () => {
  test('pool state and cache hits, misses and errors', async () => {
    const db = await freshSchema();
    const cache = freshRedisPrefix();
    const svc = await startService({ DATABASE_URL: db.url, REDIS_URL: cache.url, REDIS_KEY_PREFIX: cache.prefix });
    try {
      const id = (await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'cached' } })).body.todo.id;
      await http(svc.url, 'GET', `/api/todos/${id}`); // miss
      await http(svc.url, 'GET', `/api/todos/${id}`); // hit
      const m = await scrape(svc.url);
      assert.equal(sample(m.get('cache_requests_total'), { result: 'miss' }), '1');
      assert.equal(sample(m.get('cache_requests_total'), { result: 'hit' }), '1');
      assert.equal(sample(m.get('cache_requests_total'), { result: 'error' }), '0');
      assert.ok(Number(sample(m.get('db_pool_connections'), { state: 'total' })) >= 1);
      assert.equal(sample(m.get('db_pool_connections'), { state: 'waiting' }), '0');
      assert.equal(sample(m.get('todo_service_build_info'), { storage: 'postgres' }), '1');
      if (promtool) {
        const text = await (await fetch(`${svc.url}/metrics`)).text();
        const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        assert.equal((r.stdout + r.stderr).trim(), '', `promtool findings:\n${r.stdout}${r.stderr}`);
      }
    } finally {
      await svc.dispose();
      await cache.clear();
      await db.drop();
    }
  });
});


test('METRICS_ENABLED=false: /metrics answers 404 as a problem, /metrics/json and the API still work', async () => {
  const svc = await startService({ METRICS_ENABLED: 'false' });
  try {
    const created = await http(svc.url, 'POST', '/api/todos', { body: { title: 'uncounted' } });
    assert.equal(created.status, 201);
    const metrics = await http(svc.url, 'GET', '/metrics');
    assertProblem(metrics, 404, assert);
    assert.equal((await http(svc.url, 'GET', '/metrics/json')).status, 200);
    assert.equal((await http(svc.url, 'GET', '/readyz')).status, 200);
  } finally {
    await svc.dispose();
  }
});
