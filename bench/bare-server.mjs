// A bare node:http Todo server: the same routes, JSON envelopes, status codes and pagination rules as
// the Go reference, over an in-memory array, with no framework, no validation library, no logging and
// no persistence. It is the benchmark's "runtime ceiling": what plain Node.js does on this machine.
// Not part of the service. Env: PORT (8080), HOST (127.0.0.1).
//
//   GET /                       → 200 { message, version, environment, platform, uptime, memory, timestamp, endpoints }
//   GET /health                 → 200 { status, timestamp, uptime, memory, version }
//   GET /api/todos?page&limit   → 200 { todos, pagination: { current_page, total_items, items_per_page }, timestamp }
//   GET /api/todos/:id          → 200 { todo, timestamp } | 400 (id not a non-zero integer) | 404
//   POST /api/todos             → 201 { message, todo, timestamp } | 400 (bad JSON, title missing/empty)
//   PUT /api/todos/:id          → 200 { message, todo, timestamp } (empty title/description keep the old
//                                 value; completed only when present) | 400 | 404
//   DELETE /api/todos/:id       → 200 { message, todo, timestamp } | 400 | 404
// Errors are { error, timestamp }; anything else is 404 text/plain. CORS: requests with an Origin get
// Access-Control-Allow-Origin: * (no credentials); preflights (OPTIONS + Origin) get 204.

import http from 'node:http';

const MAX_BODY_BYTES = 1024 * 1024;
const startedAt = Date.now();

/** Todos in creation order, plus an index by id. */
const todos = [];
const byId = new Map();
let lastId = 0;

/** Go's strconv.Atoi: optional sign and decimal digits only; anything else is "not a number". */
function atoi(text, fallback) {
  return typeof text === 'string' && /^[+-]?\d+$/.test(text) ? Number(text) : fallback;
}

function send(res, status, payload) {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const now = () => new Date().toISOString();
const fail = (res, status, error) => send(res, status, { error, timestamp: now() });

/** Reads and parses a JSON object body; resolves undefined (after answering 400/413) when it is not one. */
function readJson(req, res) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        fail(res, 413, 'request body too large');
        return resolve(undefined);
      }
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
        resolve(value);
      } catch {
        fail(res, 400, 'invalid request body: expected a JSON object');
        resolve(undefined);
      }
    });
  });
}

const isOptionalString = (v) => v === undefined || v === null || typeof v === 'string';

const ENDPOINTS = {
  'GET /': 'server info',
  'GET /health': 'health check',
  'GET /api/todos': 'list todos',
  'POST /api/todos': 'create a todo',
  'GET /api/todos/:id': 'get a todo',
  'PUT /api/todos/:id': 'update a todo',
  'DELETE /api/todos/:id': 'delete a todo',
};

function info(res) {
  const mem = process.memoryUsage();
  send(res, 200, {
    message: 'bare node:http Todo server (benchmark baseline)',
    version: '1.0.0',
    environment: process.env.NODE_ENV ?? 'development',
    platform: `${process.platform}/${process.arch}`,
    uptime: `${((Date.now() - startedAt) / 1000).toFixed(3)}s`,
    memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed, heap_total_bytes: mem.heapTotal },
    timestamp: now(),
    endpoints: ENDPOINTS,
  });
}

function health(res) {
  const mem = process.memoryUsage();
  send(res, 200, {
    status: 'healthy',
    timestamp: now(),
    uptime: `${((Date.now() - startedAt) / 1000).toFixed(3)}s`,
    memory: { rss_mb: Math.floor(mem.rss / 1048576), heap_used_mb: Math.floor(mem.heapUsed / 1048576) },
    version: process.version,
  });
}

function list(res, query) {
  let page = atoi(query.get('page'), 1);
  let limit = atoi(query.get('limit'), 10);
  if (page < 1) page = 1;
  if (limit < 1 || limit > 100) limit = 10;
  const start = (page - 1) * limit;
  send(res, 200, {
    todos: start >= todos.length ? [] : todos.slice(start, start + limit),
    pagination: { current_page: page, total_items: todos.length, items_per_page: limit },
    timestamp: now(),
  });
}

async function create(req, res) {
  const body = await readJson(req, res);
  if (!body) return;
  if (typeof body.title !== 'string' || body.title === '' || !isOptionalString(body.description)) {
    return fail(res, 400, 'invalid request body: title is required');
  }
  const at = now();
  const todo = { id: ++lastId, title: body.title, description: body.description ?? '', completed: false, created_at: at, updated_at: at };
  todos.push(todo);
  byId.set(todo.id, todo);
  send(res, 201, { message: 'Todo created', todo, timestamp: at });
}

async function update(req, res, todo) {
  const body = await readJson(req, res);
  if (!body) return;
  const { title, description, completed } = body;
  if (!isOptionalString(title) || !isOptionalString(description) || !(completed == null || typeof completed === 'boolean')) {
    return fail(res, 400, 'invalid request body');
  }
  if (title) todo.title = title;
  if (description) todo.description = description;
  if (typeof completed === 'boolean') todo.completed = completed;
  todo.updated_at = now();
  send(res, 200, { message: 'Todo updated', todo, timestamp: todo.updated_at });
}

function remove(res, todo) {
  byId.delete(todo.id);
  todos.splice(todos.indexOf(todo), 1);
  send(res, 200, { message: 'Todo deleted', todo, timestamp: now() });
}

async function route(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  const method = req.method;

  if (req.headers.origin !== undefined) {
    res.setHeader('access-control-allow-origin', '*');
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
        'access-control-max-age': '43200',
      });
      return res.end();
    }
    res.setHeader('access-control-expose-headers', 'Content-Length');
  }

  if (path === '/health' && method === 'GET') return health(res);
  if (path === '/' && method === 'GET') return info(res);
  if (path === '/api/todos') {
    if (method === 'GET') return list(res, url.searchParams);
    if (method === 'POST') return create(req, res);
  }
  const match = /^\/api\/todos\/([^/]+)$/.exec(path);
  if (match && (method === 'GET' || method === 'PUT' || method === 'DELETE')) {
    const id = atoi(match[1], 0);
    if (id === 0) return fail(res, 400, 'invalid id');
    const todo = byId.get(id);
    if (!todo) return fail(res, 404, 'todo not found');
    if (method === 'GET') return send(res, 200, { todo, timestamp: now() });
    if (method === 'PUT') return update(req, res, todo);
    return remove(res, todo);
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('404 page not found');
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    if (!res.headersSent) fail(res, 500, 'internal error');
    console.error(err);
  });
});
server.keepAliveTimeout = 65_000;

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
server.listen(port, host, () => console.error(`bare server listening on http://${host}:${port}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
}
