// The OpenAPI document against the running service: every served route is documented and every documented
// operation is served; the committed client types match the document; the response checker that runs in
// http() (test/support/openapi-validator.ts) really rejects what does not match.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { renderTypes, TYPES_FILE } from '../../scripts/openapi-types.js';
import { http, startService, type TestService } from '../support/helpers.js';
import { checkExchange, documentFor, OpenApiDocument, type Exchange } from '../support/openapi-validator.js';

/** Routes that are served but are not API operations: the document itself and its docs page. */
const DOCUMENTATION_ROUTES = ['GET /openapi.json', 'GET /openapi.yaml', 'GET /docs', 'GET /docs/static/init.js', 'GET /docs*'];

/** "METHOD /path" for every route the router has, read from Fastify's route tree, with `{param}` paths. */
function routerRoutes(svc: TestService): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of svc.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (.*) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const parent = stack[depth - 1] ?? '';
    // Children of "/" are written without their leading slash ("health" under "/").
    const path = parent === '/' ? `/${m[2]!}` : parent + m[2]!;
    stack.push(path);
    for (const method of m[3]!.split(', ')) routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return routes;
}

function documentedOperations(doc: OpenApiDocument): string[] {
  return doc.operations.map((op) => `${op.method} ${op.template}`).sort();
}

let svc: TestService;
let doc: OpenApiDocument;
before(async () => {
  svc = await startService();
  const served = await documentFor(svc.url);
  assert.ok(served, 'the service serves /openapi.json');
  doc = served;
});
after(async () => {
  await svc.dispose();
});

describe('routes and document agree', () => {
  test('the router and the document list the same operations', () => {
    const routes = routerRoutes(svc);
    assert.ok(routes.length > 10, `parsed the route tree: ${routes.join(', ')}`);
    const api = routes.filter((r) => !r.startsWith('HEAD ') && r !== 'OPTIONS *' && !DOCUMENTATION_ROUTES.includes(r));
    // HEAD is answered for every GET (Fastify's exposeHeadRoutes); OPTIONS * is the CORS preflight.
    for (const r of routes.filter((r) => r.startsWith('HEAD '))) assert.ok(routes.includes(r.replace('HEAD', 'GET')), `${r} without its GET`);
    assert.deepEqual(api.sort(), documentedOperations(doc), 'served routes (left) vs documented operations (right)');
    for (const r of DOCUMENTATION_ROUTES) assert.ok(routes.includes(r), `${r} is served`);
  });

  test("GET /'s endpoint list (the route table) is exactly the documented operations", async () => {
    const endpoints = Object.keys(svc.app.routeTable.endpoints()).map((e) => e.replace(/:(\w+)/g, '{$1}'));
    assert.deepEqual(endpoints.sort(), documentedOperations(doc));
    const info = await http<{ endpoints: Record<string, string> }>(svc.url, 'GET', '/');
    assert.deepEqual(Object.keys(info.body.endpoints).sort(), Object.keys(svc.app.routeTable.endpoints()).sort());
  });

  test('every documented operation is served: a request to it reaches a handler, not the 404/405 of the router', async () => {
    for (const op of doc.operations) {
      const path = op.template.replace(/\{\w+\}/g, '1');
      const r = await http(svc.url, op.method, path, op.method === 'GET' || op.method === 'DELETE' ? {} : { body: {} });
      assert.ok(r.status !== 405 && !(r.status === 404 && (r.body as { type?: string }).type === 'about:blank'), `${op.method} ${path}: ${r.status} ${r.text}`);
    }
  });

  test('operation ids are unique and every operation has a summary, a description, a tag and a 2xx response', () => {
    const ids = doc.operations.map((op) => op.operationId);
    assert.equal(new Set(ids).size, ids.length);
    for (const op of doc.operations) {
      const o = op.object as { summary?: string; description?: string; tags?: string[] };
      assert.ok(o.summary && o.description && o.tags?.length === 1, `${op.operationId}: summary, description, one tag`);
      assert.ok(Object.keys(op.object.responses ?? {}).some((s) => s.startsWith('2')), `${op.operationId}: a 2xx response`);
    }
  });

  test('every 4xx and 5xx of every operation is an application/problem+json Problem', () => {
    for (const op of doc.operations) {
      for (const [status, response] of Object.entries(op.object.responses ?? {})) {
        if (!/^[45]/.test(status)) continue;
        assert.deepEqual(Object.keys(response.content ?? {}), ['application/problem+json'], `${op.operationId} ${status}`);
      }
    }
  });

  test('/openapi.yaml is the same document as /openapi.json', async () => {
    const yaml = await http(svc.url, 'GET', '/openapi.yaml');
    assert.equal(yaml.status, 200);
    assert.match(yaml.headers.get('content-type') ?? '', /^application\/yaml/);
    assert.deepEqual(parseYaml(yaml.text), doc.document);
  });
});

test('the committed client types (test/support/generated/openapi.d.ts) match the document: else run `npm run openapi:types`', async () => {
  const expected = await renderTypes(doc.document);
  const committed = readFileSync(TYPES_FILE, 'utf8');
  assert.ok(committed === expected, 'test/support/generated/openapi.d.ts is out of date: run `npm run openapi:types` and commit it');
});

describe('the response checker rejects what the document does not allow', () => {
  const todo = { id: 1, title: 't', description: '', completed: false, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z' };
  const problem = { type: 'about:blank', title: 'Not Found', status: 404, detail: 'x', instance: '/x', error: 'x', timestamp: '2026-01-01T00:00:00.000Z', request_id: 'r' };
  const ok = (ex: Partial<Exchange>): Exchange => ({
    method: 'GET',
    path: '/api/todos/1',
    query: '',
    status: 200,
    contentType: 'application/json; charset=utf-8',
    body: { todo, timestamp: '2026-01-01T00:00:00.000Z' },
    text: '',
    ...ex,
  });

  test('a conforming response passes and names its operation', () => {
    assert.equal(checkExchange(doc, ok({}))?.operationId, 'getTodo');
    assert.equal(checkExchange(doc, ok({ method: 'HEAD', body: '' }))?.operationId, 'getTodo');
    assert.equal(checkExchange(doc, ok({ status: 404, contentType: 'application/problem+json', body: problem }))?.operationId, 'getTodo');
    assert.equal(checkExchange(doc, ok({ path: '/nope', status: 404, contentType: 'application/problem+json', body: problem })), undefined);
  });

  const bad: [string, Partial<Exchange>, RegExp][] = [
    ['a missing member', { body: { todo: { ...todo, completed: undefined } } }, /breaks the schema/],
    ['a wrong type', { body: { todo: { ...todo, id: '1' }, timestamp: '2026-01-01T00:00:00.000Z' } }, /must be integer/],
    ['a bad date-time', { body: { todo, timestamp: 'yesterday' } }, /must match format "date-time"/],
    ['an undocumented status', { status: 418 }, /status 418 is not documented for getTodo/],
    ['an undocumented content type', { contentType: 'text/html' }, /content type "text\/html" is not documented/],
    ['a problem as plain JSON', { status: 404, body: problem }, /content type "application\/json; charset=utf-8" is not documented for getTodo 404/],
    ['a problem without its members', { status: 404, contentType: 'application/problem+json', body: { status: 404 } }, /must have required property/],
    ['a 2xx from an undocumented path', { path: '/secret' }, /no operation for GET \/secret/],
    ['a non-problem 404 from the router', { path: '/nope', status: 404, body: { error: 'Not Found' } }, /must be application\/problem\+json/],
  ];
  for (const [name, ex, message] of bad) {
    test(`fails on ${name}`, () => {
      assert.throws(() => checkExchange(doc, ok(ex)), message);
    });
  }
});
