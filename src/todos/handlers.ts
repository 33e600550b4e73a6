// Todo handlers: read the validated request, call the repository, shape the reference's envelopes.
// Dependencies arrive by closure; the route list in src/routes.ts wires each handler to its schema.
import { callerOf } from '../auth/authenticate.js';
import { isoNow } from '../clock.js';
import { invalidId, todoNotFound } from '../http/problem.js';
import type { SchemaReply as Rep, SchemaRequest as Req } from '../http/types.js';
import type { TodoPatch, TodoRepository } from './repository.js';
import { etagOf, settled, type WriteSafety } from './write-safety.js';
import type { CreateTodoRoute, DeleteTodoRoute, GetTodoRoute, ListTodosRoute, UpdateTodoRoute } from './schemas.js';

const DEFAULT_PAGE = 1;
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

/** Go's strconv.Atoi with a default: an optionally signed decimal integer, anything else → the default. */
export function parseIntOr(raw: string | undefined, fallback: number): number {
  if (raw === undefined || !/^[+-]?[0-9]+$/.test(raw)) return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : fallback;
}

/**
 * A path id (the params schema has checked the digits): 0 → 400 as in the Go reference, and so is any id
 * beyond ±(2^53 − 1), which a JavaScript number cannot hold exactly (no such id exists in any store here).
 */
export function parseId(raw: string): number {
  const n = Number(raw);
  if (n === 0 || !Number.isSafeInteger(n)) throw invalidId();
  return n;
}

const now = isoNow;

export interface TodoHandlerDeps {
  todos: TodoRepository;
  /** ETags, If-Match, If-None-Match and Idempotency-Key (src/todos/write-safety.ts). */
  safety: WriteSafety;
}

export function todoHandlers({ todos, safety }: TodoHandlerDeps) {
  return {
    list: async (req: Req<typeof ListTodosRoute>) => {
      const { page: rawPage, limit: rawLimit, completed } = req.query;
      const { page, limit, offset } = pageOf(parseIntOr(rawPage, DEFAULT_PAGE), parseIntOr(rawLimit, DEFAULT_LIMIT));
      const { items, total } = await todos.list(callerOf(req).owner, {
        offset,
        limit,
        completed: completed === undefined ? undefined : completed === 'true',
      });
      return {
        todos: items,
        pagination: { current_page: page, total_items: total, items_per_page: limit },
        timestamp: now(),
      };
    },

    get: async (req: Req<typeof GetTodoRoute>, reply: Rep<typeof GetTodoRoute>) => {
      const id = parseId(req.params.id);
      const todo = await todos.get(callerOf(req).owner, id);
      if (!todo) throw todoNotFound(id);
      reply.header('etag', etagOf(todo));
      if (safety.notModified(req, todo)) return reply.code(304).send();
      return { todo, timestamp: now() };
    },

    create: async (req: Req<typeof CreateTodoRoute>, reply: Rep<typeof CreateTodoRoute>) => {
      const owner = callerOf(req).owner;
      // Only the fields a client may set are read: no id, completed or timestamps from the body.
      const input = { title: req.body.title, description: req.body.description ?? '' };
      return safety.once(req, reply, owner, 201, 'Todo created', (receipt) => todos.create(owner, input, { receipt }));
    },

    update: async (req: Req<typeof UpdateTodoRoute>, reply: Rep<typeof UpdateTodoRoute>) => {
      const id = parseId(req.params.id);
      const owner = callerOf(req).owner;
      const ifVersion = safety.ifMatch(req, id);
      const patch = patchOf(req.body);
      return safety.once(req, reply, owner, 200, 'Todo updated', async (receipt) => settled(await todos.update(owner, id, patch, { ifVersion, receipt }), id));
    },

    remove: async (req: Req<typeof DeleteTodoRoute>, reply: Rep<typeof DeleteTodoRoute>) => {
      const id = parseId(req.params.id);
      const owner = callerOf(req).owner;
      const ifVersion = safety.ifMatch(req, id);
      return safety.once(req, reply, owner, 200, 'Todo deleted', async (receipt) => settled(await todos.delete(owner, id, { ifVersion, receipt }), id));
    },
  };
}

/** Trims a string `title` before validation; a blank one is left as is, so validation rejects it. */
export function trimTitle(req: { body: unknown }, _reply: unknown, done: () => void): void {
  trimBodyTitle(req.body);
  done();
}

// The rules below are shared by the REST handlers above and the gRPC service (src/grpc/todo-service.ts).

/** The title trimming of every write: a string `title` loses its surrounding whitespace unless it is blank. */
export function trimBodyTitle(body: unknown): void {
  const b = body as { title?: unknown } | null;
  if (b && typeof b === 'object' && typeof b.title === 'string') {
    const trimmed = b.title.trim();
    if (trimmed !== '') b.title = trimmed;
  }
}

/** The page served for a requested page and limit: page below 1 → 1; a limit outside 1–100 → 10. */
export function pageOf(requestedPage: number, requestedLimit: number): { page: number; limit: number; offset: number } {
  const page = Math.max(DEFAULT_PAGE, requestedPage);
  const limit = requestedLimit < 1 || requestedLimit > MAX_LIMIT ? DEFAULT_LIMIT : requestedLimit;
  return { page, limit, offset: (page - 1) * limit };
}

/**
 * The reference's partial-update rules: an empty, null or missing title or description keeps the stored value;
 * completed changes only when it is present.
 */
export function patchOf(update: { title?: string | null | undefined; description?: string | null | undefined; completed?: boolean | null | undefined }): TodoPatch {
  return { title: update.title || undefined, description: update.description || undefined, completed: update.completed ?? undefined };
}
