// Attack families: what a response tells a browser (security headers, caching), what errors and logs tell an
// onlooker (secrets), and requests Node's HTTP parser refuses before Fastify sees them (problem bodies, not
// Fastify's own JSON). Also the DOCS_ENABLED switch.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { MAIN, assertProblem, http, startService, type TestService } from '../support/helpers.js';
import { parseResponse, rawExchange } from '../support/raw-http.js';

describe('security headers', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.dispose();
  });

  test('every API response: nosniff, no-store, no referrer, no framing, a CSP that allows nothing', async () => {
    await http(svc.url, 'POST', '/api/todos', { body: { title: 'x' } });
    for (const [method, path] of [['GET', '/api/todos'], ['GET', '/api/todos/1'], ['GET', '/api/todos/999'], ['POST', '/api/todos'], ['GET', '/'], ['GET', '/nope']]) {
      const r = await fetch(svc.url + path!, { method: method!, body: method === 'POST' ? '{}' : null });
      await r.arrayBuffer();
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${method} ${path}`);
      assert.equal(r.headers.get('cache-control'), 'no-store', `${method} ${path}`);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(r.headers.get('x-frame-options'), 'DENY');
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
      assert.equal(r.headers.get('strict-transport-security'), null, 'no HSTS without an https PUBLIC_URL');
      assert.equal(r.headers.get('x-powered-by'), null);
    }
  });

  test('the docs page keeps its strict CSP; its static assets may be cached, unknown names are 404 problems', async () => {
    const page = await fetch(`${svc.url}/docs`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), csp);
    assert.ok(!csp.includes('unsafe-inline'));
    const css = await fetch(`${svc.url}/docs/static/swagger-ui.css`);
    await css.arrayBuffer();
    assert.equal(css.status, 200);
    assert.match(css.headers.get('cache-control') ?? '', /public, max-age=86400/);
    for (const name of ['index.html', 'swagger-ui.css.map', '..%2fpackage.json', 'constructor', '__proto__']) {
      assertProblem(await http(svc.url, 'GET', `/docs/static/${name}`), 404, assert);
    }
  });

  test('HSTS when PUBLIC_URL is https', async () => {
    const https = await startService({ PUBLIC_URL: 'https://todos.example.com' });
    try {
      const r = await fetch(`${https.url}/api/todos`);
      await r.arrayBuffer();
      assert.match(r.headers.get('strict-transport-security') ?? '', /max-age=31536000; includeSubDomains/);
    } finally {
      await https.dispose();
    }
  });
});

describe('secrets', () => {
  test('a bad configuration names the key but never prints a password or a secret', () => {
    const env = {
      DATABASE_URL: 'mysql://app:s3cret-pass@db.internal:3306/todos',
      REDIS_URL: 'http://cache:hunter2@redis:6379',
      OTEL_EXPORTER_OTLP_HEADERS: 'x',
      PORT: 'not-a-port',
    };
    assert.throws(
      () => loadConfig(env),
      (error: ConfigError) => {
        assert.match(error.message, /DATABASE_URL="mysql:\/\/app:\*\*\*@db\.internal:3306\/todos"/);
        assert.match(error.message, /REDIS_URL="http:\/\/cache:\*\*\*@redis:6379"/);
        assert.doesNotMatch(error.message, /s3cret|hunter2/);
        return true;
      },
    );
    // The same through the real process's stderr.
    const run = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, DATABASE_URL: 'mysql://app:s3cret-pass@db/todos' }, encoding: 'utf8' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /DATABASE_URL/);
    assert.doesNotMatch(run.stderr + run.stdout, /s3cret-pass/);
  });

  test('log lines never carry authorization, cookies, passwords, secrets or tokens, at any depth', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => void (lines.push(chunk.toString()), done()) });
    const logger = await createLogger({ level: 'info', format: 'json' }, sink);
    const err = Object.assign(new Error('boom'), { config: { headers: { Authorization: 'Bearer abc.def.ghi' } } });
    logger.info(
      {
        headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'set-cookie': ['sid=2'], accept: 'json' },
        db_password: 'pw1',
        client_secret: 'pw2',
        refresh_token: 'pw3',
        api_key: 'pw4',
        nested: [{ accessToken: 'pw5' }],
        owner: 'user-42',
        err,
      },
      'hello',
    );
    logger.flush();
    const line = lines.join('');
    for (const secret of ['abc.def.ghi', 'sid=1', 'sid=2', 'pw1', 'pw2', 'pw3', 'pw4', 'pw5']) assert.ok(!line.includes(secret), `${secret} leaked: ${line}`);
    const parsed = JSON.parse(line) as { headers: { accept: string }; owner: string; err: { message: string; stack: string } };
    assert.equal(parsed.headers.accept, 'json', 'other values stay');
    assert.equal(parsed.owner, 'user-42', 'an owner id is not a secret');
    assert.equal(parsed.err.message, 'boom', "an error keeps its message and stack");
    assert.match(parsed.err.stack, /Error: boom/);
  });
});

describe("requests Node's HTTP parser refuses get problems", () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.dispose();
  });

  for (const [name, request, status] of [
    ['an unknown method', 'FOO /api/todos HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a malformed request line', 'GET /api/todos HTTP/9.9 extra\r\nHost: x\r\n\r\n', 400],
    ['a header without a colon', 'GET /api/todos HTTP/1.1\r\nHost x\r\n\r\n', 400],
    ['headers over 16 KiB', `GET /api/todos HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431],
    ['a bad Content-Length', 'POST /api/todos HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400],
  ] as const) {
    test(`${name} → ${status} problem, connection closed`, async () => {
      const { text, closedAfterMs } = await rawExchange(svc.url, request);
      const res = parseResponse(text);
      assert.equal(res.status, status, text);
      assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
      const problem = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(problem.status, status);
      assert.equal(problem.error, problem.detail);
      assert.equal(problem.request_id, res.headers['x-request-id']);
      assert.notEqual(closedAfterMs, undefined, 'the connection is closed');
    });
  }

  test('an OPTIONS that is not a CORS preflight is a 204, not text', async () => {
    const r = await fetch(`${svc.url}/api/todos`, { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.equal(await r.text(), '');
  });
});

test('a Content-Type built to make a regular expression backtrack is read in linear time (ReDoS)', { timeout: 5000 }, async () => {
  const { isMediaType } = await import('../../src/http/go-reading.js');
  // A quadratic check would take hours on a million characters (0.5 s on the 16 KiB a header may hold).
  assert.equal(isMediaType(`a/b${' '.repeat(1_000_000)}x`), false);
  assert.equal(isMediaType(`a/b${'; a=b'.repeat(200_000)}`), true);
  assert.equal(isMediaType('application/json; charset=utf-8'), true);
});

test('DOCS_ENABLED=false: no docs page and no OpenAPI document', async () => {
  const svc = await startService({ DOCS_ENABLED: 'false' });
  try {
    for (const path of ['/docs', '/docs/static/swagger-ui.css', '/openapi.json', '/openapi.yaml']) {
      assertProblem(await http(svc.url, 'GET', path), 404, assert);
    }
    const api = await fetch(`${svc.url}/api/todos`);
    await api.arrayBuffer();
    assert.equal(api.status, 200);
  } finally {
    await svc.dispose();
  }
});
