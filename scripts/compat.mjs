// compat.mjs — black-box compatibility check of the Todo REST API contract.
//
// The contract is the one a client of the original Go/Gin Todo service relies on: paths, methods,
// status codes, JSON field names, envelopes, pagination rules, partial-update rules of PUT, error
// bodies and CORS. The SAME script must pass against the Go reference and against our service, so it
// only checks behaviour both have (no exact message texts, no 405-vs-404 for wrong methods, no
// error content types).
//
// Usage:
//   node scripts/compat.mjs [BASE_URL]          (default http://127.0.0.1:8080)
//   node scripts/compat.mjs http://127.0.0.1:18080
// Environment: COMPAT_TIMEOUT_MS — per-request timeout in milliseconds (default 5000).
//
// Output: one line per check ("ok - name" / "not ok - name : reason"), then "N passed, M failed".
// Exit status: 0 if every check passed, 1 otherwise.
//
// It does not assume an empty store or any particular ids: it creates its own todos (and deletes them
// at the end), and uses 999999999 as an id that surely does not exist.
//
// Plain Node.js >= 20, ESM, no dependencies.

import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

const BASE = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.COMPAT_TIMEOUT_MS) || 5000;
const MISSING_ID = 999999999;
const ORIGIN = 'http://example.com';
const TODO_ENDPOINTS = [
  'GET /api/todos',
  'POST /api/todos',
  'GET /api/todos/:id',
  'PUT /api/todos/:id',
  'DELETE /api/todos/:id',
];

// ---------------------------------------------------------------------------------------------------
// HTTP helper

/**
 * Sends one request with a timeout. `json` is serialised and sent as application/json; `body` is sent
 * verbatim with `contentType` (pass contentType to override the JSON content type too).
 * Returns { method, path, status, headers, text, body }: body is the parsed JSON, or undefined if none.
 */
async function request(method, path, { json, body, contentType, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(TIMEOUT_MS) };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = contentType ?? 'application/json';
  } else if (body !== undefined) {
    init.body = body;
    if (contentType) init.headers['content-type'] = contentType;
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (err) {
    const cause = err?.cause?.code ?? err?.cause?.message ?? err?.name ?? '';
    throw new Error(`${method} ${path}: request failed (${err.message}${cause ? `: ${cause}` : ''})`);
  }
  let text;
  try {
    text = await res.text();
  } catch (err) {
    throw new Error(`${method} ${path}: reading the body failed (${err.message})`);
  }
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { method, path, status: res.status, headers: res.headers, text, body: parsed };
}

// ---------------------------------------------------------------------------------------------------
// Assertion helpers (each throws an AssertionError with a message that says what was wrong)

const short = (s) => (s.length > 300 ? `${s.slice(0, 300)}…` : s);

function expectStatus(res, expected) {
  const ok = Array.isArray(expected) ? expected.includes(res.status) : res.status === expected;
  assert.ok(
    ok,
    `${res.method} ${res.path}: expected status ${[expected].flat().join(' or ')}, got ${res.status}; body: ${short(res.text)}`,
  );
}

function expectJsonObject(res) {
  assert.ok(
    res.body !== null && typeof res.body === 'object' && !Array.isArray(res.body),
    `${res.method} ${res.path}: expected a JSON object body, got: ${short(res.text) || '(empty)'}`,
  );
  return res.body;
}

/** A successful response: the status, a JSON content type and a JSON object body. */
function expectJson(res, status) {
  expectStatus(res, status);
  const ct = res.headers.get('content-type') ?? '';
  assert.match(ct, /^application\/json\b/i, `${res.method} ${res.path}: content-type ${JSON.stringify(ct)} is not application/json`);
  return expectJsonObject(res);
}

function expectDate(value, what) {
  assert.ok(
    typeof value === 'string' && !Number.isNaN(Date.parse(value)),
    `${what} is not a parseable date string: ${JSON.stringify(value)}`,
  );
  return Date.parse(value);
}

/** An error response: the status and a JSON body { error: string, timestamp }. */
function expectError(res, status) {
  expectStatus(res, status);
  const body = expectJsonObject(res);
  assert.equal(typeof body.error, 'string', `${res.method} ${res.path}: error body has no string "error": ${short(res.text)}`);
  assert.ok(body.error.length > 0, `${res.method} ${res.path}: "error" is empty`);
  assert.ok('timestamp' in body, `${res.method} ${res.path}: error body has no "timestamp": ${short(res.text)}`);
  expectDate(body.timestamp, `${res.method} ${res.path}: error "timestamp"`);
  return body;
}

function expectTodo(todo, what = 'todo') {
  assert.ok(todo !== null && typeof todo === 'object' && !Array.isArray(todo), `${what} is not an object: ${JSON.stringify(todo)}`);
  assert.ok(Number.isInteger(todo.id), `${what}.id is not an integer: ${JSON.stringify(todo.id)}`);
  assert.equal(typeof todo.title, 'string', `${what}.title is not a string`);
  assert.equal(typeof todo.description, 'string', `${what}.description is not a string`);
  assert.equal(typeof todo.completed, 'boolean', `${what}.completed is not a boolean`);
  expectDate(todo.created_at, `${what}.created_at`);
  expectDate(todo.updated_at, `${what}.updated_at`);
  return todo;
}

/** The { message, todo, timestamp } envelope of POST, PUT and DELETE. */
function expectTodoEnvelope(res, status) {
  const body = expectJson(res, status);
  assert.equal(typeof body.message, 'string', `${res.method} ${res.path}: envelope has no string "message": ${short(res.text)}`);
  expectDate(body.timestamp, `${res.method} ${res.path}: "timestamp"`);
  return expectTodo(body.todo, `${res.method} ${res.path}: todo`);
}

/** The { todos, pagination, timestamp } envelope of GET /api/todos. */
function expectList(res) {
  const body = expectJson(res, 200);
  assert.ok(Array.isArray(body.todos), `${res.method} ${res.path}: "todos" is not an array: ${JSON.stringify(body.todos)}`);
  body.todos.forEach((t, i) => expectTodo(t, `${res.path}: todos[${i}]`));
  const p = body.pagination;
  assert.ok(p && typeof p === 'object', `${res.method} ${res.path}: no "pagination" object`);
  for (const k of ['current_page', 'total_items', 'items_per_page']) {
    assert.ok(Number.isInteger(p[k]), `${res.method} ${res.path}: pagination.${k} is not an integer: ${JSON.stringify(p[k])}`);
  }
  expectDate(body.timestamp, `${res.method} ${res.path}: "timestamp"`);
  return body;
}

// ---------------------------------------------------------------------------------------------------
// Fixtures: every check that needs a todo creates its own; all are deleted at the end.

const created = new Set();
let seq = 0;

async function createTodo(fields = {}) {
  seq += 1;
  const payload = { title: `compat ${process.pid}-${seq}`, description: `compat description ${seq}`, ...fields };
  const res = await request('POST', '/api/todos', { json: payload });
  const todo = expectTodoEnvelope(res, 201);
  created.add(todo.id);
  return todo;
}

async function getTodo(id) {
  const res = await request('GET', `/api/todos/${id}`);
  const body = expectJson(res, 200);
  expectDate(body.timestamp, `GET /api/todos/${id}: "timestamp"`);
  return expectTodo(body.todo, `GET /api/todos/${id}: todo`);
}

async function listTodos(query = '') {
  return expectList(await request('GET', `/api/todos${query}`));
}

async function update(id, json) {
  return expectTodoEnvelope(await request('PUT', `/api/todos/${id}`, { json }), 200);
}

// ---------------------------------------------------------------------------------------------------
// Runner

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

// --- server info and health ---------------------------------------------------------------------------

check('GET / returns server info', async () => {
  const body = expectJson(await request('GET', '/'), 200);
  for (const k of ['message', 'version', 'environment', 'platform']) {
    assert.equal(typeof body[k], 'string', `"${k}" is not a string: ${JSON.stringify(body[k])}`);
  }
  expectDate(body.timestamp, '"timestamp"');
  assert.ok(body.endpoints && typeof body.endpoints === 'object' && !Array.isArray(body.endpoints), '"endpoints" is not an object');
  for (const e of TODO_ENDPOINTS) assert.ok(e in body.endpoints, `"endpoints" has no key ${JSON.stringify(e)}`);
});

check('GET /health is healthy', async () => {
  const body = expectJson(await request('GET', '/health'), 200);
  assert.equal(body.status, 'healthy', `"status" is ${JSON.stringify(body.status)}`);
  expectDate(body.timestamp, '"timestamp"');
  assert.ok('uptime' in body, 'no "uptime"');
  assert.ok(body.memory && typeof body.memory === 'object' && !Array.isArray(body.memory), '"memory" is not an object');
});

// --- create ---------------------------------------------------------------------------------------------

check('POST /api/todos creates a todo (201, {message, todo, timestamp})', async () => {
  const res = await request('POST', '/api/todos', { json: { title: 'compat create', description: 'compat create description' } });
  const todo = expectTodoEnvelope(res, 201);
  created.add(todo.id);
  assert.equal(todo.title, 'compat create');
  assert.equal(todo.description, 'compat create description');
  assert.equal(todo.completed, false, 'a new todo is not completed');
  assert.ok(Date.parse(todo.updated_at) >= Date.parse(todo.created_at), 'updated_at < created_at');
});

check('POST /api/todos without description stores ""', async () => {
  const todo = await createTodo({ description: undefined });
  assert.equal(todo.description, '');
});

check('POST /api/todos round-trips non-ASCII text', async () => {
  const title = 'Go 학습하기 ✓ ünïcödé 🚀';
  const description = 'Docker와 Go를 함께 학습 — "quotes" \\ back';
  const todo = await createTodo({ title, description });
  assert.equal(todo.title, title);
  assert.equal(todo.description, description);
  const fetched = await getTodo(todo.id);
  assert.equal(fetched.title, title);
  assert.equal(fetched.description, description);
});

check('POST /api/todos reads a JSON body sent as application/x-www-form-urlencoded (curl -d)', async () => {
  const res = await request('POST', '/api/todos', {
    json: { title: 'compat form', description: 'sent like curl -d' },
    contentType: 'application/x-www-form-urlencoded',
  });
  const todo = expectTodoEnvelope(res, 201);
  created.add(todo.id);
  assert.equal(todo.title, 'compat form');
  assert.equal(todo.description, 'sent like curl -d');
});

check('POST /api/todos ignores client-sent id and completed (no mass assignment)', async () => {
  const res = await request('POST', '/api/todos', { json: { id: 424242, title: 'compat mass', completed: true } });
  const todo = expectTodoEnvelope(res, 201);
  created.add(todo.id);
  assert.equal(todo.completed, false, 'completed was taken from the request');
  assert.notEqual(todo.id, 424242, 'id was taken from the request');
});

check('POST /api/todos without title → 400 {error, timestamp}', async () => {
  expectError(await request('POST', '/api/todos', { json: { description: 'no title' } }), 400);
});

check('POST /api/todos with empty title → 400', async () => {
  expectError(await request('POST', '/api/todos', { json: { title: '', description: 'x' } }), 400);
});

check('POST /api/todos with a non-JSON body → 400', async () => {
  expectError(await request('POST', '/api/todos', { body: '{not json', contentType: 'application/json' }), 400);
});

check('POST /api/todos with a numeric title → 400', async () => {
  expectError(await request('POST', '/api/todos', { json: { title: 123 } }), 400);
});

// --- read one -------------------------------------------------------------------------------------------

check('GET /api/todos/:id returns {todo, timestamp}', async () => {
  const todo = await createTodo();
  const fetched = await getTodo(todo.id);
  assert.deepEqual(fetched, todo, 'the fetched todo differs from the created one');
});

check('GET /api/todos/abc → 400', async () => {
  expectError(await request('GET', '/api/todos/abc'), 400);
});

check('GET /api/todos/0 → 400', async () => {
  expectError(await request('GET', '/api/todos/0'), 400);
});

check(`GET /api/todos/${MISSING_ID} (unknown) → 404`, async () => {
  expectError(await request('GET', `/api/todos/${MISSING_ID}`), 404);
});

// --- list -----------------------------------------------------------------------------------------------

check('GET /api/todos returns {todos, pagination, timestamp} with defaults page 1, limit 10', async () => {
  await createTodo();
  const body = await listTodos();
  assert.equal(body.pagination.current_page, 1);
  assert.equal(body.pagination.items_per_page, 10);
  assert.ok(body.pagination.total_items >= 1, 'total_items is 0 after a create');
  assert.equal(body.todos.length, Math.min(10, body.pagination.total_items), 'page 1 is not full (min(10, total) items)');
});

for (const bad of ['0', '101', 'abc', '-5']) {
  check(`GET /api/todos?limit=${bad} falls back to items_per_page 10`, async () => {
    const body = await listTodos(`?limit=${bad}`);
    assert.equal(body.pagination.items_per_page, 10);
    assert.ok(body.todos.length <= 10, `${body.todos.length} todos returned`);
  });
}

check('GET /api/todos?limit=100 and ?limit=1 are accepted', async () => {
  await createTodo();
  const b100 = await listTodos('?limit=100');
  assert.equal(b100.pagination.items_per_page, 100);
  assert.equal(b100.todos.length, Math.min(100, b100.pagination.total_items));
  const b1 = await listTodos('?limit=1');
  assert.equal(b1.pagination.items_per_page, 1);
  assert.equal(b1.todos.length, 1);
});

for (const bad of ['0', '-3', 'abc']) {
  check(`GET /api/todos?page=${bad} falls back to current_page 1`, async () => {
    await createTodo();
    const body = await listTodos(`?page=${bad}&limit=2`);
    assert.equal(body.pagination.current_page, 1);
    const first = await listTodos('?page=1&limit=2');
    assert.deepEqual(body.todos.map((t) => t.id), first.todos.map((t) => t.id), 'not the same items as page 1');
  });
}

check('GET /api/todos?limit=2 returns at most 2 todos', async () => {
  await createTodo();
  await createTodo();
  const body = await listTodos('?limit=2');
  assert.equal(body.pagination.items_per_page, 2);
  assert.equal(body.todos.length, 2, `${body.todos.length} todos returned`);
});

check('GET /api/todos?page=2&limit=1 returns the second item', async () => {
  await createTodo();
  await createTodo();
  const all = await listTodos('?limit=2');
  const second = await listTodos('?page=2&limit=1');
  assert.equal(second.pagination.current_page, 2);
  assert.equal(second.todos.length, 1);
  assert.equal(second.todos[0].id, all.todos[1].id);
});

check('GET /api/todos past the last page → todos is an empty array, total_items unchanged', async () => {
  await createTodo();
  const first = await listTodos('?limit=10');
  const total = first.pagination.total_items;
  const page = Math.floor(total / 10) + 2;
  const res = await request('GET', `/api/todos?page=${page}&limit=10`);
  const body = expectList(res);
  assert.deepEqual(body.todos, [], `todos is ${JSON.stringify(body.todos)}`);
  assert.equal(body.pagination.current_page, page);
  assert.equal(body.pagination.total_items, total, 'total_items changed on an empty page');
  assert.match(res.text, /"todos"\s*:\s*\[\s*\]/, 'todos is not serialised as []');
});

check('GET /api/todos total_items grows by 1 after a create, shrinks by 1 after a delete', async () => {
  const before = (await listTodos()).pagination.total_items;
  const todo = await createTodo();
  const after = (await listTodos()).pagination.total_items;
  assert.equal(after, before + 1, `total_items ${before} → ${after} after a create`);
  expectTodoEnvelope(await request('DELETE', `/api/todos/${todo.id}`), 200);
  created.delete(todo.id);
  const end = (await listTodos()).pagination.total_items;
  assert.equal(end, before, `total_items ${after} → ${end} after a delete`);
});

check('GET /api/todos lists in ascending id order, a new todo on the last page', async () => {
  const a = await createTodo();
  const b = await createTodo();
  const c = await createTodo();
  assert.ok(a.id < b.id && b.id < c.id, `ids of successive creates are not increasing: ${a.id}, ${b.id}, ${c.id}`);
  const limit = 100;
  const total = (await listTodos(`?limit=${limit}`)).pagination.total_items;
  const lastPage = Math.max(1, Math.ceil(total / limit));
  // The 3 new todos are at the end: on the last page, or split with the page before it.
  const pages = lastPage > 1 ? [lastPage - 1, lastPage] : [lastPage];
  const ids = [];
  for (const p of pages) ids.push(...(await listTodos(`?page=${p}&limit=${limit}`)).todos.map((t) => t.id));
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `ids not ascending: ... ${ids[i - 1]}, ${ids[i]} ...`);
  }
  assert.deepEqual(ids.slice(-3), [a.id, b.id, c.id], 'the newest todos are not the last items of the last page');
  const first = (await listTodos(`?page=1&limit=${limit}`)).todos.map((t) => t.id);
  for (let i = 1; i < first.length; i++) {
    assert.ok(first[i - 1] < first[i], `page 1 ids not ascending: ... ${first[i - 1]}, ${first[i]} ...`);
  }
});

// --- update ---------------------------------------------------------------------------------------------

check('PUT /api/todos/:id {title} changes the title only', async () => {
  const t = await createTodo({ description: 'keep me' });
  const u = await update(t.id, { title: 'new' });
  assert.equal(u.id, t.id);
  assert.equal(u.title, 'new');
  assert.equal(u.description, 'keep me');
  assert.equal(u.completed, false);
  assert.equal(Date.parse(u.created_at), Date.parse(t.created_at), 'created_at changed');
  assert.ok(Date.parse(u.updated_at) >= Date.parse(u.created_at), 'updated_at < created_at');
  const g = await getTodo(t.id);
  assert.equal(g.title, 'new', 'the update was not stored');
  assert.equal(g.description, 'keep me');
});

check('PUT /api/todos/:id {description} changes the description only', async () => {
  const t = await createTodo({ title: 'keep title' });
  const u = await update(t.id, { description: 'new description' });
  assert.equal(u.title, 'keep title');
  assert.equal(u.description, 'new description');
});

check('PUT /api/todos/:id {description: ""} keeps the description', async () => {
  const t = await createTodo({ description: 'old description' });
  const u = await update(t.id, { description: '' });
  assert.equal(u.description, 'old description');
  assert.equal(u.title, t.title);
});

check('PUT /api/todos/:id {title: ""} keeps the title', async () => {
  const t = await createTodo({ title: 'old title' });
  const u = await update(t.id, { title: '' });
  assert.equal(u.title, 'old title');
  assert.equal(u.description, t.description);
});

check('PUT /api/todos/:id {completed: true|false} sets completed', async () => {
  const t = await createTodo();
  const u = await update(t.id, { completed: true });
  assert.equal(u.completed, true);
  assert.equal(u.title, t.title);
  assert.equal(u.description, t.description);
  assert.equal((await getTodo(t.id)).completed, true, 'completed was not stored');
  const v = await update(t.id, { completed: false });
  assert.equal(v.completed, false);
});

check('PUT /api/todos/:id without completed keeps completed', async () => {
  const t = await createTodo();
  await update(t.id, { completed: true });
  const u = await update(t.id, { title: 'still done' });
  assert.equal(u.completed, true, 'completed was reset');
  assert.equal(u.title, 'still done');
});

check('PUT /api/todos/:id {} keeps everything (200)', async () => {
  const t = await createTodo();
  const u = await update(t.id, {});
  assert.equal(u.id, t.id);
  assert.equal(u.title, t.title);
  assert.equal(u.description, t.description);
  assert.equal(u.completed, t.completed);
  assert.ok(Date.parse(u.updated_at) >= Date.parse(u.created_at), 'updated_at < created_at');
});

check('PUT /api/todos/:id reads a JSON body sent as application/x-www-form-urlencoded (curl -d)', async () => {
  const t = await createTodo();
  const res = await request('PUT', `/api/todos/${t.id}`, {
    json: { title: 'form put', completed: true },
    contentType: 'application/x-www-form-urlencoded',
  });
  const u = expectTodoEnvelope(res, 200);
  assert.equal(u.title, 'form put');
  assert.equal(u.completed, true);
});

check('PUT /api/todos/abc and /0 → 400', async () => {
  expectError(await request('PUT', '/api/todos/abc', { json: { title: 'x' } }), 400);
  expectError(await request('PUT', '/api/todos/0', { json: { title: 'x' } }), 400);
});

check(`PUT /api/todos/${MISSING_ID} (unknown) → 404`, async () => {
  expectError(await request('PUT', `/api/todos/${MISSING_ID}`, { json: { title: 'x' } }), 404);
});

check('PUT /api/todos/:id with a non-JSON body → 400', async () => {
  const t = await createTodo();
  expectError(await request('PUT', `/api/todos/${t.id}`, { body: '{not json', contentType: 'application/json' }), 400);
  const g = await getTodo(t.id);
  assert.equal(g.title, t.title, 'the todo changed after a rejected update');
});

// --- delete ---------------------------------------------------------------------------------------------

check('DELETE /api/todos/:id → 200 {message, todo, timestamp}, then GET and DELETE → 404', async () => {
  const t = await createTodo();
  const d = expectTodoEnvelope(await request('DELETE', `/api/todos/${t.id}`), 200);
  created.delete(t.id);
  assert.equal(d.id, t.id, 'the returned todo is not the deleted one');
  assert.equal(d.title, t.title);
  assert.equal(d.description, t.description);
  expectError(await request('GET', `/api/todos/${t.id}`), 404);
  expectError(await request('DELETE', `/api/todos/${t.id}`), 404);
});

check('DELETE /api/todos/abc and /0 → 400', async () => {
  expectError(await request('DELETE', '/api/todos/abc'), 400);
  expectError(await request('DELETE', '/api/todos/0'), 400);
});

check(`DELETE /api/todos/${MISSING_ID} (unknown) → 404`, async () => {
  expectError(await request('DELETE', `/api/todos/${MISSING_ID}`), 404);
});

// --- CORS -----------------------------------------------------------------------------------------------

function expectAllowOrigin(res) {
  const acao = res.headers.get('access-control-allow-origin');
  assert.ok(
    acao === '*' || acao === ORIGIN,
    `${res.method} ${res.path}: Access-Control-Allow-Origin is ${JSON.stringify(acao)}, expected "*" or ${JSON.stringify(ORIGIN)}`,
  );
}

check('CORS: a request with Origin gets Access-Control-Allow-Origin', async () => {
  const res = await request('GET', '/api/todos', { headers: { origin: ORIGIN } });
  expectStatus(res, 200);
  expectAllowOrigin(res);
  const t = await createTodo();
  const one = await request('GET', `/api/todos/${t.id}`, { headers: { origin: ORIGIN } });
  expectStatus(one, 200);
  expectAllowOrigin(one);
});

for (const [method, path] of [['POST', '/api/todos'], ['PUT', '/api/todos/1'], ['DELETE', '/api/todos/1']]) {
  check(`CORS: preflight OPTIONS ${path} for ${method} → 2xx allowing ${method}`, async () => {
    const res = await request('OPTIONS', path, {
      headers: { origin: ORIGIN, 'access-control-request-method': method },
    });
    expectStatus(res, [200, 204]);
    expectAllowOrigin(res);
    const methods = res.headers.get('access-control-allow-methods') ?? '';
    assert.ok(
      methods.split(',').map((m) => m.trim().toUpperCase()).includes(method) || methods.trim() === '*',
      `Access-Control-Allow-Methods is ${JSON.stringify(methods)}, expected it to contain ${method}`,
    );
  });
}

// ---------------------------------------------------------------------------------------------------

// Output (see main: stops writing, but keeps running, when stdout is closed early).
let stdoutOpen = true;
const say = (line) => {
  if (stdoutOpen) console.log(line);
};

async function cleanup() {
  for (const id of created) {
    try {
      const res = await request('DELETE', `/api/todos/${id}`);
      if (res.status !== 200 && res.status !== 404) say(`# cleanup: DELETE /api/todos/${id} → ${res.status}`);
    } catch (err) {
      say(`# cleanup: ${err.message}`);
    }
  }
}

const SELF = basename(fileURLToPath(import.meta.url));

/** One line saying why a check failed; for assertions without a message, the values and the line. */
function describeFailure(err) {
  if (!(err instanceof Error)) return String(err);
  if (err.code === 'ERR_ASSERTION' && err.generatedMessage) {
    const show = (v) => inspect(v, { depth: 3, breakLength: Infinity, maxStringLength: 200 });
    const frame = (err.stack ?? '').split('\n').find((l) => l.includes(SELF));
    const where = frame?.match(/:(\d+):\d+\)?$/)?.[1];
    return `expected ${show(err.expected)}, got ${show(err.actual)} (${err.operator}${where ? `, ${SELF}:${where}` : ''})`;
  }
  return err.message.split('\n')[0];
}

async function main() {
  // Output piped into `head` and the like: keep going (and clean up) silently when the reader goes away.
  process.stdout.on('error', (err) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    stdoutOpen = false;
  });
  say(`# compat checks against ${BASE} (timeout ${TIMEOUT_MS} ms per request)`);

  // If the server cannot be reached at all, fail every check at once instead of waiting for each to time out.
  let unreachable;
  try {
    await request('GET', '/health');
  } catch (err) {
    unreachable = err.message;
  }

  let passed = 0;
  let failed = 0;
  for (const { name, fn } of checks) {
    if (unreachable) {
      failed += 1;
      say(`not ok - ${name} : server unreachable (${unreachable})`);
      continue;
    }
    try {
      await fn();
      passed += 1;
      say(`ok - ${name}`);
    } catch (err) {
      failed += 1;
      const reason = describeFailure(err);
      say(`not ok - ${name} : ${reason}`);
    }
  }
  if (!unreachable) await cleanup();
  say(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
