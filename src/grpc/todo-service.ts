// TodoService (proto/todo/v1/todo.proto): the REST handlers' behaviour over RPC. The same repository (with its
// cache), the same schemas and rules (src/todos/), the same If-Match and Idempotency-Key handling (as metadata),
// the caller's identity from the guard (src/grpc/calls.ts). Only the shapes differ: ids are int64, timestamps
// google.protobuf.Timestamp, a response holds no envelope, and the ETag travels as response metadata.
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { Compile } from 'typebox/compile';
import { HttpProblem, todoNotFound } from '../http/problem.js';
import { fieldErrors, invalidRequest, type SchemaError } from '../http/validation.js';
import { pageOf, parseId, patchOf, trimBodyTitle } from '../todos/handlers.js';
import type { Todo as StoredTodo, TodoRepository } from '../todos/repository.js';
import { etagOf, settled, type WriteReply, type WriteRequest, type WriteSafety } from '../todos/write-safety.js';
import { CreateTodoRoute, UpdateTodoRoute } from '../todos/schemas.js';
import { callerOf } from './calls.js';
import type { Todo, TodoService } from './gen/todo/v1/todo_pb.js';

// The REST bodies' schemas, compiled once: the same limits, patterns and messages as the API's validation.
const createBody = Compile(CreateTodoRoute.body);
const updateBody = Compile(UpdateTodoRoute.body);

interface BodyValidator {
  Check(value: unknown): boolean;
  Errors(value: unknown): SchemaError[];
}

/** A request's fields as a REST body: trimmed, then checked against the route's schema (400 → INVALID_ARGUMENT). */
function validBody<T extends object>(validator: BodyValidator, body: T): T {
  trimBodyTitle(body);
  if (!validator.Check(body)) throw new HttpProblem(invalidRequest(fieldErrors(undefined, validator.Errors(body))));
  return body;
}

/** A request's id as REST reads a path id: 0 or beyond ±(2^53 − 1) is INVALID_ARGUMENT. */
const idOf = (id: bigint) => parseId(id.toString());

/** Fields that are unset (undefined) are left out, as a JSON body would leave them out. */
const present = <T extends object>(fields: T) => Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;

const toMessage = (todo: StoredTodo): Omit<Todo, '$typeName'> => ({
  id: BigInt(todo.id),
  title: todo.title,
  description: todo.description,
  completed: todo.completed,
  createdAt: timestampFromDate(new Date(todo.created_at)),
  updatedAt: timestampFromDate(new Date(todo.updated_at)),
});

/**
 * The REST request a call stands for, for If-Match and Idempotency-Key (src/todos/write-safety.ts): the metadata
 * of the same names, and the method, path and body that REST would have had — so a key is spent once whichever
 * transport a retry takes.
 */
function asWriteRequest(ctx: HandlerContext, method: string, url: string, body?: unknown): WriteRequest {
  const metadata = (name: string) => ctx.requestHeader.get(name) ?? undefined;
  return { headers: { 'if-match': metadata('if-match'), 'idempotency-key': metadata('idempotency-key') }, method, url, body };
}

/** The answer's ETag (and Idempotent-Replayed) go out as response metadata; the REST status has no equivalent. */
function asWriteReply(ctx: HandlerContext): WriteReply {
  const reply: WriteReply = {
    code: () => reply,
    header: (name, value) => (ctx.responseHeader.set(name, value), reply),
  };
  return reply;
}

export function todoService(todos: TodoRepository, safety: WriteSafety): ServiceImpl<typeof TodoService> {
  const owner = (ctx: HandlerContext) => callerOf(ctx).owner;
  return {
    async createTodo(req, ctx) {
      // An empty description is an absent one (proto3 cannot tell them apart), as REST's `description ?? ''` reads it.
      const body = validBody(createBody, present({ title: req.title, description: req.description || undefined }));
      const input = { title: body.title, description: body.description ?? '' };
      const who = owner(ctx);
      const { todo } = await safety.once(asWriteRequest(ctx, 'POST', '/api/todos', body), asWriteReply(ctx), who, 201, 'Todo created', (receipt) =>
        todos.create(who, input, { receipt }),
      );
      return { todo: toMessage(todo) };
    },

    async getTodo(req, ctx) {
      const id = idOf(req.id);
      const todo = await todos.get(owner(ctx), id);
      if (!todo) throw todoNotFound(id);
      ctx.responseHeader.set('etag', etagOf(todo));
      return { todo: toMessage(todo) };
    },

    async listTodos(req, ctx) {
      const { page, limit, offset } = pageOf(req.page, req.limit);
      const { items, total } = await todos.list(owner(ctx), { offset, limit, completed: req.completed });
      return { todos: items.map(toMessage), pagination: { currentPage: page, totalItems: BigInt(total), itemsPerPage: limit } };
    },

    async updateTodo(req, ctx) {
      const id = idOf(req.id);
      const body = validBody(updateBody, present({ title: req.title, description: req.description, completed: req.completed }));
      const who = owner(ctx);
      // A partial update: the REST request it stands for is a PATCH.
      const write = asWriteRequest(ctx, 'PATCH', `/api/todos/${id}`, body);
      const ifVersion = safety.ifMatch(write, id);
      const { todo } = await safety.once(write, asWriteReply(ctx), who, 200, 'Todo updated', async (receipt) =>
        settled(await todos.update(who, id, patchOf(body), { ifVersion, receipt }), id),
      );
      return { todo: toMessage(todo) };
    },

    async deleteTodo(req, ctx) {
      const id = idOf(req.id);
      const who = owner(ctx);
      const write = asWriteRequest(ctx, 'DELETE', `/api/todos/${id}`);
      const ifVersion = safety.ifMatch(write, id);
      const { todo } = await safety.once(write, asWriteReply(ctx), who, 200, 'Todo deleted', async (receipt) =>
        settled(await todos.delete(who, id, { ifVersion, receipt }), id),
      );
      return { todo: toMessage(todo) };
    },
  };
}
