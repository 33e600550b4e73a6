// Attack family: lookups keyed by client input that could reach inherited properties (`constructor`,
// `__proto__`, ...). A single such request used to crash the process seconds later (GET
// /docs/static/constructor: an inherited property passed for a file, the stream's error never handled). Every
// route prefix is walked with each key as a path segment, a query key and a JSON key, on the production bundle
// in its own process; then the process must still be alive seconds later, and no object was polluted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnService, type Proc } from '../support/helpers.js';

const KEYS = ['constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Long enough for a crash that comes from an unhandled error event after a timeout (the old one took ~5 s). */
const AFTERLIFE_MS = 6000;

let proc: Proc;
const answers: { method: string; path: string; status: number }[] = [];

before(async () => {
  proc = await spawnService();
});
after(async () => {
  await proc.stop();
});

async function send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(proc.url + path, body === undefined ? { method, headers } : { method, body, headers: { 'content-type': 'application/json', ...headers } });
  await res.arrayBuffer();
  answers.push({ method, path, status: res.status });
  return res.status;
}

/** Every route path of the service (from `GET /` and the docs and probe routes), and each of its prefixes. */
async function routePrefixes(): Promise<string[]> {
  const info = (await (await fetch(`${proc.url}/`)).json()) as { endpoints: Record<string, string> };
  const paths = Object.keys(info.endpoints).map((e) => e.split(' ')[1]!);
  paths.push('/docs', '/docs/static/swagger-ui.css', '/openapi.json', '/openapi.yaml', '/livez', '/readyz', '/metrics', '/metrics/json');
  const prefixes = new Set<string>(['']);
  for (const path of paths) {
    const segments = path.split('/').filter(Boolean);
    for (let i = 1; i <= segments.length; i++) prefixes.add(`/${segments.slice(0, i).join('/')}`);
  }
  return [...prefixes].map((p) => p.replace(/:\w+/g, '1'));
}

test('every route prefix with an inherited-property name as a path segment: no 5xx', async () => {
  const created = await send('POST', '/api/todos', JSON.stringify({ title: 'target' }));
  assert.equal(created, 201);
  for (const prefix of await routePrefixes()) {
    for (const key of KEYS) {
      for (const method of METHODS) {
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? JSON.stringify({ title: key }) : undefined;
        await send(method, `${prefix}/${key}`, body);
        await send(method, `${prefix}/${encodeURIComponent(key)}/${key}`, body);
      }
    }
  }
  const failures = answers.filter((a) => a.status >= 500);
  assert.deepEqual(failures, [], 'no request with an inherited key in its path is a 5xx');
});

test('inherited-property names as query keys and values: no 5xx', async () => {
  for (const path of ['/', '/health', '/api/todos', '/api/todos/1', '/docs', '/docs/static/swagger-ui.css', '/openapi.json', '/livez', '/readyz', '/metrics']) {
    for (const key of KEYS) {
      for (const query of [`${key}=1`, `${key}[${key}]=1`, `${key}.${key}=1`, key, `page=${key}&limit=${key}&completed=${key}`, `${key}=1&${key}=2`]) {
        await send('GET', `${path}?${query}`);
        if (path.startsWith('/api/')) await send(path === '/api/todos' ? 'POST' : 'PUT', `${path}?${query}`, JSON.stringify({ title: 'q' }));
      }
    }
  }
  assert.deepEqual(answers.filter((a) => a.status >= 500), []);
});

test('inherited-property names as JSON keys, top-level and nested: refused or ignored, never a 5xx, nothing polluted', async () => {
  const bodies = KEYS.flatMap((key) => [
    `{"title":"x","${key}":1}`,
    `{"${key}":{"title":"polluted","completed":true}}`,
    `{"title":"x","${key}":{"${key}":{"completed":true,"polluted":true}}}`,
    `{"title":{"${key}":"x"}}`,
    `{"title":"x","description":{"${key}":"x"}}`,
    `{"title":"x","completed":{"${key}":true}}`,
    `[{"${key}":{"title":"x"}}]`,
  ]);
  for (const body of bodies) {
    await send('POST', '/api/todos', body);
    await send('PUT', '/api/todos/1', body);
    await send('PATCH', '/api/todos/1', body);
    await send('DELETE', '/api/todos/999999', body);
  }
  for (const key of KEYS) await send('GET', '/api/todos', undefined, { [key.toLowerCase()]: 'x', 'x-request-id': key });
  assert.deepEqual(answers.filter((a) => a.status >= 500), []);

  // What was stored has exactly the todo's members: no key of a body reached an object's prototype.
  const list = (await (await fetch(`${proc.url}/api/todos?limit=100`)).json()) as { todos: Record<string, unknown>[] };
  for (const todo of list.todos) {
    assert.deepEqual(Object.keys(todo).sort(), ['completed', 'created_at', 'description', 'id', 'title', 'updated_at']);
    assert.notEqual(todo.title, 'polluted');
  }
  const fresh = (await (await fetch(`${proc.url}/api/todos`, { method: 'POST', body: '{"title":"clean"}' })).json()) as { todo: Record<string, unknown> };
  assert.equal(fresh.todo.completed, false, 'a new todo is not completed by a polluted prototype');
  assert.equal('polluted' in fresh.todo, false);
});

test(`the process is alive and serving ${AFTERLIFE_MS / 1000} s after all of it`, async () => {
  assert.ok(answers.length > 1000, `${answers.length} hostile requests were sent`);
  await new Promise((resolve) => setTimeout(resolve, AFTERLIFE_MS));
  assert.equal(proc.child.exitCode, null, 'the process has not exited');
  assert.equal((await fetch(`${proc.url}/livez`)).status, 200);
  assert.equal((await fetch(`${proc.url}/api/todos`, { method: 'POST', body: '{"title":"still here"}' })).status, 201);
  assert.deepEqual(proc.logs.filter((l) => l.level === 'error' || l.level === 'fatal'), [], 'no error was logged');
});
