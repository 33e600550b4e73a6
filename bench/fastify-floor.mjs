// The Fastify floor: the least a Fastify 5 server does for the benchmark's routes. Like bench/bare-server.mjs
// it is not part of the service; it is the layer table's second row (`npm run bench -- --layers`), between the
// bare runtime and our service: what the framework alone costs (routing, JSON body parsing, response
// serialization compiled from a schema) with no storage, no logger, no hooks and no plugins.
// Env: PORT (8080), HOST (127.0.0.1). Runs on Node and on Bun alike.
//
//   GET /health          → 200 { status: "healthy" }                          (the bench's readiness probe)
//   GET /api/todos/:id   → 200 { todo, timestamp }                            a constant todo, the id echoed
//   GET /api/todos       → 200 { todos, pagination, timestamp }               a constant page of 10
//   POST /api/todos      → 201 { message, todo, timestamp }                   the body parsed, then ignored;
//                          ids count up from 1, so the bench's seeding sees the contiguous ids it expects
//   PUT /api/todos/:id   → 200 { message, todo, timestamp }                   the body parsed, then ignored

import Fastify from 'fastify';

const Todo = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    title: { type: 'string' },
    description: { type: 'string' },
    completed: { type: 'boolean' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
};
const TodoEnvelope = { type: 'object', properties: { message: { type: 'string' }, todo: Todo, timestamp: { type: 'string' } } };
const TodoPage = {
  type: 'object',
  properties: {
    todos: { type: 'array', items: Todo },
    pagination: {
      type: 'object',
      properties: { current_page: { type: 'integer' }, total_items: { type: 'integer' }, items_per_page: { type: 'integer' } },
    },
    timestamp: { type: 'string' },
  },
};

const AT = '2026-12-07T00:00:00.000Z';
const todo = (id) => ({ id, title: `Floor todo ${id}`, description: 'a constant answer', completed: false, created_at: AT, updated_at: AT });
const PAGE = { todos: Array.from({ length: 10 }, (_, i) => todo(i + 1)), pagination: { current_page: 1, total_items: 10_000, items_per_page: 10 }, timestamp: AT };

const app = Fastify({ logger: false });
let lastId = 0;

app.get('/health', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'healthy' }));
app.get('/api/todos', { schema: { response: { 200: TodoPage } } }, async () => PAGE);
app.get('/api/todos/:id', { schema: { response: { 200: TodoEnvelope } } }, async (req) => ({ todo: todo(Number(req.params.id)), timestamp: AT }));
app.post('/api/todos', { schema: { response: { 201: TodoEnvelope } } }, async (_req, reply) => {
  reply.code(201);
  return { message: 'Todo created', todo: todo(++lastId), timestamp: AT };
});
app.put('/api/todos/:id', { schema: { response: { 200: TodoEnvelope } } }, async (req) => ({ message: 'Todo updated', todo: todo(Number(req.params.id)), timestamp: AT }));

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
await app.listen({ port, host });
process.stderr.write(`Fastify floor listening on http://${host}:${port}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => app.close().then(() => process.exit(0)));
