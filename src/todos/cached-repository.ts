// A TodoRepository that serves reads from the Redis cache and invalidates it on writes. It wraps any backend,
// so the handlers never know whether a cache is there.
import type { ListQuery, Todo, TodoPage, TodoRepository } from './repository.js';
import type { RedisCache } from '../cache/redis-cache.js';

export function cachedTodoRepository(repo: TodoRepository, cache: RedisCache): TodoRepository {
  const listGeneration = cache.key('gen', 'list');
  const todoGeneration = (id: number) => cache.key('gen', 'todo', id);

  return {
    async list(query: ListQuery): Promise<TodoPage> {
      const filter = query.completed === undefined ? 'all' : String(query.completed);
      const read = await cache.read(listGeneration, cache.key('list', filter, query.offset, query.limit));
      if (read?.value) return JSON.parse(read.value) as TodoPage;
      const page = await repo.list(query);
      if (read) cache.write(read.key, JSON.stringify(page));
      return page;
    },

    async get(id: number): Promise<Todo | undefined> {
      const read = await cache.read(todoGeneration(id), cache.key('todo', id));
      if (read?.value) return JSON.parse(read.value) as Todo;
      const todo = await repo.get(id);
      // Only found todos are cached: a create needs no invalidation of a "not found".
      if (read && todo) cache.write(read.key, JSON.stringify(todo));
      return todo;
    },

    async create(todo) {
      const created = await repo.create(todo);
      await cache.invalidate([listGeneration]);
      return created;
    },

    async update(id, patch) {
      const updated = await repo.update(id, patch);
      if (updated) await cache.invalidate([todoGeneration(id), listGeneration]);
      return updated;
    },

    async delete(id) {
      const deleted = await repo.delete(id);
      if (deleted) await cache.invalidate([todoGeneration(id), listGeneration]);
      return deleted;
    },
  };
}
