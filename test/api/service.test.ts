// Service info, health and build info, request ids, request logs and CORS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { http, spawnService, startService, type TestService } from '../support/helpers.js';
import { parseResponse, rawExchange } from '../support/raw-http.js';

let svc: TestService;
before(async () => {
  svc = await startService({ NODE_ENV: 'test-env', APP_VERSION: '9.9.9' });
});
after(async () => {
  await svc.dispose();
});

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

test('GET / describes the service and lists the endpoints from the registered routes', async () => {
  const r = await http<Record<string, any>>(svc.url, 'GET', '/');
  assert.equal(r.status, 200);
  assert.equal(r.body.version, '9.9.9');
  assert.equal(r.body.environment, 'test-env');
  assert.equal(r.body.runtime, process.version);
  assert.equal(r.body.platform, `${process.platform}/${process.arch}`);
  assert.match(r.body.uptime, /^[\d.hms]+$/);
  assert.ok(r.body.memory.rss_bytes > 0);
  assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)));
  assert.deepEqual(Object.keys(r.body.endpoints).sort(), [
    'DELETE /api/todos/:id',
    'GET /',
    'GET /api/todos',
    'GET /api/todos/:id',
    'GET /health',
    'GET /livez',
    'GET /metrics',
    'GET /metrics/json',
    'GET /readyz',
    'PATCH /api/todos/:id',
    'POST /api/todos',
    'PUT /api/todos/:id',
  ]);
  for (const description of Object.values(r.body.endpoints)) assert.ok(typeof description === 'string' && description.length > 0);
});

test('GET /health: healthy, version, memory and the build info written from git at build time', async () => {
  const r = await http<Record<string, any>>(svc.url, 'GET', '/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'healthy');
  assert.equal(r.body.version, '9.9.9');
  assert.ok(r.body.memory.rss_mb > 0);
  assert.equal(r.body.build.commit, gitHead());
  if (r.body.build.commit !== 'unknown') {
    assert.ok(!Number.isNaN(Date.parse(r.body.build.commit_time)));
    assert.equal(typeof r.body.build.dirty, 'boolean');
  }
});

describe('request ids', () => {
  test('a sane X-Request-Id is kept and echoed', async () => {
    const r = await http(svc.url, 'GET', '/health', { headers: { 'x-request-id': 'abc-123.DEF_4' } });
    assert.equal(r.headers.get('x-request-id'), 'abc-123.DEF_4');
  });
  test('a missing or unsafe one is replaced by a UUID', async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const header of [undefined, 'has spaces', 'x'.repeat(200), 'a/../b?c', '<script>']) {
      const headers: Record<string, string> = header === undefined ? {} : { 'x-request-id': header };
      const r = await fetch(svc.url + '/health', { headers });
      assert.match(r.headers.get('x-request-id') ?? '', uuid, String(header));
    }
    // fetch refuses control characters in a header value, so that one goes over a raw socket.
    const { text } = await rawExchange(svc.url, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: inject\u0001me\r\nConnection: close\r\n\r\n');
    const res = parseResponse(text);
    assert.ok(res.status === 200 || res.status === 400, text);
    assert.match(res.headers['x-request-id'] ?? '', uuid, 'a control character in the id is never echoed');
  });
});

test('one JSON log line per request with the recorder fields', async () => {
  const id = `log-test-${Date.now()}`;
  await http(svc.url, 'GET', '/api/todos/12345?x=1', { headers: { 'x-request-id': id, 'user-agent': 'tester/1.0' } });
  await new Promise((r) => setTimeout(r, 20));
  const lines = svc.logs.filter((l) => l.request_id === id);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const line = lines[0]!;
  assert.equal(line.level, 'info');
  assert.equal(line.method, 'GET');
  assert.equal(line.route, '/api/todos/:id');
  assert.equal(line.url, '/api/todos/12345?x=1');
  assert.equal(line.status, 404);
  assert.ok((line.bytes as number) > 0);
  assert.equal(typeof line.duration_ms, 'number');
  assert.equal(line.remote_addr, '127.0.0.1');
  assert.equal(line.user_agent, 'tester/1.0');
  assert.ok(typeof line.time === 'string' && !Number.isNaN(Date.parse(line.time)));
});

test('the production log destination: every line reaches stdout whole, non-ASCII too, the last ones at SIGTERM', async () => {
  // The bundle as a process, writing to its real stdout (the tests above capture the logger in-process).
  // Lines are batched as UTF-8 bytes, so a character of two bytes must not cut or shift a line; and the
  // batch still pending when SIGTERM comes is written before the exit.
  const proc = await spawnService();
  const agent = 'tëst-agent/1.0 (ü)'; // sent as Latin-1 bytes, logged as UTF-8
  const ids = Array.from({ length: 300 }, (_, i) => `stdout-${i}`);
  for (let i = 0; i < ids.length; i += 30) {
    await Promise.all(ids.slice(i, i + 30).map((id) => fetch(`${proc.url}/api/todos/${id.length}`, { headers: { 'x-request-id': id, 'user-agent': agent } })));
  }
  const stdoutClosed = new Promise((resolve) => proc.child.stdout!.once('close', resolve)); // 'exit' can come first
  assert.equal(await proc.stop(), 0);
  await stdoutClosed;
  const lines = proc.logs.filter((l) => l.msg === 'request completed' && typeof l.request_id === 'string' && l.request_id.startsWith('stdout-'));
  assert.deepEqual(lines.map((l) => l.request_id).sort(), [...ids].sort());
  for (const line of lines) assert.equal(line.user_agent, agent);
});

describe('CORS', () => {
  test('default: any origin, never with credentials', async () => {
    const r = await fetch(svc.url + '/api/todos', { headers: { origin: 'https://app.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/i);
  });

  test('default preflight is answered', async () => {
    const r = await fetch(svc.url + '/api/todos/1', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /PATCH/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /content-type/i);
    assert.equal(r.headers.get('access-control-max-age'), '43200');
  });

  test('an origin list reflects allowed origins with Vary: Origin and may send credentials', async () => {
    const strict = await startService({ CORS_ORIGINS: 'https://a.example, https://b.example', CORS_CREDENTIALS: 'true' });
    try {
      const ok = await fetch(strict.url + '/api/todos', { headers: { origin: 'https://b.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://b.example');
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
      assert.match(ok.headers.get('vary') ?? '', /Origin/i);

      const other = await fetch(strict.url + '/api/todos', { headers: { origin: 'https://evil.example' } });
      assert.equal(other.headers.get('access-control-allow-origin'), null);

      const preflight = await fetch(strict.url + '/api/todos', {
        method: 'OPTIONS',
        headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://a.example');
    } finally {
      await strict.dispose();
    }
  });
});
