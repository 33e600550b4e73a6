// A TodoRepository that serves reads from the Redis cache and invalidates it on writes. It wraps any backend,
// so the handlers never know whether a cache is there.
import type { TraceContext } from '../telemetry/tracing.js';
import type { ListQuery, Todo, TodoPage, TodoRepository } from '../todos/repository.js';
import type { RedisCache } from './redis-cache.js';

export function cachedTodoRepository(repo: TodoRepository, cache: RedisCache): TodoRepository {
  const listGeneration = cache.key('gen', 'list');
  const todoGeneration = (id: number) => cache.key('gen', 'todo', id);

  return {
    async list(query: ListQuery, trace?: TraceContext): Promise<TodoPage> {
      const filter = query.completed === undefined ? 'all' : String(query.completed);
      const read = await cache.read(listGeneration, cache.key('list', filter, query.offset, query.limit), trace);
      if (read?.value) return JSON.parse(read.value) as TodoPage;
      const page = await repo.list(query, trace);
      if (read) cache.write(read.key, JSON.stringify(page));
      return page;
    },

    async get(id: number, trace?: TraceContext): Promise<Todo | undefined> {
      const read = await cache.read(todoGeneration(id), cache.key('todo', id), trace);
      if (read?.value) return JSON.parse(read.value) as Todo;
      const todo = await repo.get(id, trace);
      // Only found todos are cached: a create needs no invalidation of a "not found".
      if (read && todo) cache.write(read.key, JSON.stringify(todo));
      return todo;
    },

    async create(todo, trace) {
      const created = await repo.create(todo, trace);
      await cache.invalidate([listGeneration], trace);
      return created;
    },

    async update(id, patch, trace) {
      const updated = await repo.update(id, patch, trace);
      if (updated) await cache.invalidate([todoGeneration(id), listGeneration], trace);
      return updated;
    },

    async delete(id, trace) {
      const deleted = await repo.delete(id, trace);
      if (deleted) await cache.invalidate([todoGeneration(id), listGeneration], trace);
      return deleted;
    },
  };
}
