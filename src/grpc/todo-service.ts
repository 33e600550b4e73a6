// TodoService (proto/todo/v1/todo.proto): the REST handlers' behaviour over RPC. The same repository (with its
// cache), the same schemas and rules (src/todos/), the caller's identity from the guard (src/grpc/calls.ts).
// Only the shapes differ: ids are int64, timestamps google.protobuf.Timestamp, and a response holds no envelope.
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { Compile } from 'typebox/compile';
import { HttpProblem, todoNotFound } from '../http/problem.js';
import { fieldErrors, invalidRequest, type SchemaError } from '../http/validation.js';
import { pageOf, parseId, patchOf, trimBodyTitle } from '../todos/handlers.js';
import type { Todo as StoredTodo, TodoRepository } from '../todos/repository.js';
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

export function todoService(todos: TodoRepository): ServiceImpl<typeof TodoService> {
  const owner = (ctx: HandlerContext) => callerOf(ctx).owner;
  return {
    async createTodo(req, ctx) {
      const body = validBody(createBody, { title: req.title, description: req.description });
      const todo = await todos.create(owner(ctx), { title: body.title, description: body.description ?? '' });
      return { todo: toMessage(todo) };
    },

    async getTodo(req, ctx) {
      const id = idOf(req.id);
      const todo = await todos.get(owner(ctx), id);
      if (!todo) throw todoNotFound(id);
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
      const todo = await todos.update(owner(ctx), id, patchOf(body));
      if (!todo) throw todoNotFound(id);
      return { todo: toMessage(todo) };
    },

    async deleteTodo(req, ctx) {
      const id = idOf(req.id);
      const todo = await todos.delete(owner(ctx), id);
      if (!todo) throw todoNotFound(id);
      return { todo: toMessage(todo) };
    },
  };
}
