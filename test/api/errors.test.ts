// Every error path answers with an RFC 9457 problem that keeps the Go reference's {error, timestamp}.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { assertProblem, http, startService, type TestService } from '../support/helpers.js';

let svc: TestService;
before(async () => {
  svc = await startService();
});
after(async () => {
  await svc.dispose();
});

test('unknown route → 404 problem', async () => {
  for (const path of ['/nope', '/api', '/api/todos/1/extra', '/api/todos/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await http(svc.url, 'GET', path);
    assertProblem(r, 404, assert);
  }
});

test('wrong method on a known path → 405 with Allow', async () => {
  const cases: [string, string, string][] = [
    ['DELETE', '/api/todos', 'GET, HEAD, POST'],
    ['PUT', '/api/todos', 'GET, HEAD, POST'],
    ['POST', '/api/todos/7', 'GET, HEAD, PUT, PATCH, DELETE'],
    ['POST', '/health', 'GET, HEAD'],
    ['DELETE', '/', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await http(svc.url, method, path);
    assertProblem(r, 405, assert);
    assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
  }
});

test('HEAD works where GET does', async () => {
  const r = await fetch(svc.url + '/health', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '');
});

test('body over the limit → 413 problem, nothing stored', async () => {
  const big = JSON.stringify({ title: 'big', description: 'x'.repeat(1024 * 1024) });
  const r = await http(svc.url, 'POST', '/api/todos', { body: big });
  assertProblem(r, 413, assert);
  const list = await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos');
  assert.equal(list.body.pagination.total_items, 0);
});

test('the body limit is configurable', async () => {
  const small = await startService({ BODY_LIMIT_BYTES: '64' });
  try {
    assert.equal((await http(small.url, 'POST', '/api/todos', { body: { title: 'fits' } })).status, 201);
    assertProblem(await http(small.url, 'POST', '/api/todos', { body: { title: 'x'.repeat(100) } }), 413, assert);
  } finally {
    await small.dispose();
  }
});

test('a 5xx never leaks a stack trace, SQL or file path; the log has the details', async () => {
  const broken = await startService();
  try {
    // Break the database under the running service: its prepared statements now fail.
    const db = new Database(broken.dbPath);
    db.exec('DROP TABLE todos');
    db.close();
    const r = await http<Record<string, unknown>>(broken.url, 'GET', '/api/todos/1');
    assertProblem(r, 500, assert);
    for (const leak of ['no such table', 'SQLITE', 'sqlite', 'SELECT', '    at ', broken.dir, '.ts:', '.js:', 'node_modules']) {
      assert.ok(!r.text.includes(leak), `500 body leaks "${leak}": ${r.text}`);
    }
    assert.equal(r.body.type, 'about:blank');
    const logged = broken.logs.find((l) => l.msg === 'unhandled error');
    assert.ok(logged, 'the error is logged');
    assert.equal(logged.request_id, r.body.request_id);
    assert.match(JSON.stringify(logged.err), /no such table/);
    const line = broken.logs.find((l) => l.msg === 'request failed');
    assert.equal(line?.status, 500);
  } finally {
    await broken.dispose();
  }
});
