// A TodoRepository that serves reads from the Redis cache and invalidates it on writes. It wraps any backend,
// so the handlers never know whether a cache is there. Keys carry the owner: one owner's entries can never
// answer another's read, and one owner's writes retire only that owner's list pages.
import type { ListQuery, Todo, TodoPage, TodoRepository } from './repository.js';
import type { RedisCache } from '../cache/redis-cache.js';

export function cachedTodoRepository(repo: TodoRepository, cache: RedisCache): TodoRepository {
  const owned = (owner: string) => encodeURIComponent(owner);
  const listGeneration = (owner: string) => cache.key('gen', 'list', owned(owner));
  const todoGeneration = (id: number) => cache.key('gen', 'todo', id);

  return {
    async list(owner: string, query: ListQuery): Promise<TodoPage> {
      const filter = query.completed === undefined ? 'all' : String(query.completed);
      const read = await cache.read(listGeneration(owner), cache.key('list', owned(owner), filter, query.offset, query.limit));
      if (read?.value) return JSON.parse(read.value) as TodoPage;
      const page = await repo.list(owner, query);
      if (read) cache.write(read.key, JSON.stringify(page));
      return page;
    },

    async get(owner: string, id: number): Promise<Todo | undefined> {
      const read = await cache.read(todoGeneration(id), cache.key('todo', owned(owner), id));
      if (read?.value) return JSON.parse(read.value) as Todo;
      const todo = await repo.get(owner, id);
      // Only found todos are cached: a create needs no invalidation of a "not found".
      if (read && todo) cache.write(read.key, JSON.stringify(todo));
      return todo;
    },

    async create(owner, todo, options) {
      const created = await repo.create(owner, todo, options);
      await cache.invalidate([listGeneration(owner)]);
      return created;
    },

    async update(owner, id, patch, options) {
      const result = await repo.update(owner, id, patch, options);
      if ('todo' in result) await cache.invalidate([todoGeneration(id), listGeneration(owner)]);
      return result;
    },

    async delete(owner, id, options) {
      const result = await repo.delete(owner, id, options);
      if ('todo' in result) await cache.invalidate([todoGeneration(id), listGeneration(owner)]);
      return result;
    },
  };
}
