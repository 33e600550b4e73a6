// Attack family: cross-site writes. A page of another site can make a visitor's browser send a "simple" POST
// (a form, or a text/plain fetch) without a preflight; since bodies are read as JSON whatever their type (the Go
// contract's `curl -d`), such a POST used to create a todo even with CORS_CREDENTIALS=true and the origin not
// allowed. Now unsafe methods from a browser context of another site whose origin is not allowed get 403 and
// change nothing; same-site pages, allowed origins and non-browser clients keep working.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem, http, startService, type TestService } from '../support/helpers.js';

const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

async function count(svc: TestService): Promise<number> {
  return (await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos')).body.pagination.total_items;
}

describe('with an explicit CORS_ORIGINS list and credentials', () => {
  let svc: TestService;
  let id: number;
  before(async () => {
    svc = await startService({ CORS_ORIGINS: ALLOWED, CORS_CREDENTIALS: 'true' });
    id = (await http<{ todo: { id: number } }>(svc.url, 'POST', '/api/todos', { body: { title: 'mine' } })).body.todo.id;
  });
  after(async () => {
    await svc.dispose();
  });

  test('a text/plain POST from a page of another site is 403 and creates nothing', async () => {
    const before = await count(svc);
    for (const headers of [
      { origin: EVIL, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain;charset=UTF-8' },
      { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }, // an older browser: Origin only
      { origin: 'null', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }, // a sandboxed frame
      { 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }, // a cross-site request without Origin
    ]) {
      const r = await http(svc.url, 'POST', '/api/todos', { body: '{"title":"csrf"}', headers });
      assertProblem(r, 403, assert);
      assert.equal((r.body as { type: string }).type, 'urn:todo-service:problem:cross-site-request');
      assert.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS grant for the refused origin');
    }
    assert.equal(await count(svc), before);
  });

  test('cross-site PUT, PATCH and DELETE are 403 and change nothing', async () => {
    const headers = { origin: EVIL, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' };
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const r = await http(svc.url, method, `/api/todos/${id}`, { body: '{"title":"changed","completed":true}', headers });
      assertProblem(r, 403, assert);
    }
    const todo = await http<{ todo: { title: string; completed: boolean } }>(svc.url, 'GET', `/api/todos/${id}`);
    assert.deepEqual([todo.body.todo.title, todo.body.todo.completed], ['mine', false]);
  });

  test('an allowed origin, the same site, the same origin and non-browser clients keep working', async () => {
    const own = new URL(svc.url).origin;
    const cases: Record<string, string>[] = [
      { origin: ALLOWED, 'sec-fetch-site': 'cross-site' },
      { origin: 'https://other.example.com', 'sec-fetch-site': 'same-site' },
      { origin: own, 'sec-fetch-site': 'same-origin' },
      { origin: own }, // an older browser on the service's own page
      { 'sec-fetch-site': 'none' }, // typed in the address bar, a bookmark
      {}, // curl, a script, another service: no Origin, no Sec-Fetch-Site
    ];
    for (const headers of cases) {
      const r = await http(svc.url, 'POST', '/api/todos', { body: '{"title":"fine"}', headers: { 'content-type': 'text/plain', ...headers } });
      assert.equal(r.status, 201, `${JSON.stringify(headers)}: ${r.text}`);
    }
    const allowed = await http(svc.url, 'POST', '/api/todos', { body: { title: 'cors' }, headers: { origin: ALLOWED } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), ALLOWED);
  });

  test("the Go contract's curl -d (a form content type, no Origin) still creates", async () => {
    const r = await http(svc.url, 'POST', '/api/todos', { body: '{"title":"curl"}', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 201);
  });

  test('reads from another site are not refused (CORS decides what its page may see)', async () => {
    const r = await http(svc.url, 'GET', '/api/todos', { headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

test('with CORS_ORIGINS=* every origin is allowed, so a cross-site write is allowed too (the documented default)', async () => {
  const svc = await startService();
  try {
    const r = await http(svc.url, 'POST', '/api/todos', { body: '{"title":"open api"}', headers: { origin: EVIL, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' } });
    assert.equal(r.status, 201);
  } finally {
    await svc.dispose();
  }
});
