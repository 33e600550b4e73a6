// A TodoRepository that serves reads from the Redis cache and invalidates it on writes. It wraps any backend,
// so the handlers never know whether a cache is there. Keys carry the owner: one owner's entries can never
// answer another's read, and one owner's writes retire only that owner's list pages.
import type { IdempotencyStore, ListQuery, Todo, TodoPage, TodoRepository } from './repository.js';
import type { RedisCache } from '../cache/redis-cache.js';

const owned = (owner: string) => encodeURIComponent(owner);
const listGeneration = (cache: RedisCache, owner: string) => cache.key('gen', 'list', owned(owner));
const todoGeneration = (cache: RedisCache, id: number) => cache.key('gen', 'todo', id);

export function cachedTodoRepository(repo: TodoRepository, cache: RedisCache): TodoRepository {
  return {
    async list(owner: string, query: ListQuery): Promise<TodoPage> {
      const filter = query.completed === undefined ? 'all' : String(query.completed);
      const read = await cache.read(listGeneration(cache, owner), cache.key('list', owned(owner), filter, query.offset, query.limit));
      if (read?.value) return JSON.parse(read.value) as TodoPage;
      const page = await repo.list(owner, query);
      if (read) cache.write(read.key, JSON.stringify(page));
      return page;
    },

    async get(owner: string, id: number): Promise<Todo | undefined> {
      const read = await cache.read(todoGeneration(cache, id), cache.key('todo', owned(owner), id));
      if (read?.value) return JSON.parse(read.value) as Todo;
      const todo = await repo.get(owner, id);
      // Only found todos are cached: a create needs no invalidation of a "not found".
      if (read && todo) cache.write(read.key, JSON.stringify(todo));
      return todo;
    },

    async create(owner, todo, options) {
      const created = await repo.create(owner, todo, options);
      await cache.invalidate([listGeneration(cache, owner)]);
      return created;
    },

    async update(owner, id, patch, options) {
      const result = await repo.update(owner, id, patch, options);
      if ('todo' in result) await cache.invalidate([todoGeneration(cache, id), listGeneration(cache, owner)]);
      return result;
    },

    async delete(owner, id, options) {
      const result = await repo.delete(owner, id, options);
      if ('todo' in result) await cache.invalidate([todoGeneration(cache, id), listGeneration(cache, owner)]);
      return result;
    },
  };
}

/**
 * An IdempotencyStore whose replays bump the generations their write would have bumped. The first request
 * committed its write and its receipt together, but it may have died — or lost Redis — before its bump, and
 * then entries from before the write would still answer reads after the repeat acknowledged it.
 */
export function cachedIdempotencyStore(store: IdempotencyStore, cache: RedisCache): IdempotencyStore {
  return {
    async claim(owner, key, fingerprint, leaseMs, ttlMs) {
      const claim = await store.claim(owner, key, fingerprint, leaseMs, ttlMs);
      if ('replay' in claim) await cache.invalidate([todoGeneration(cache, claim.replay.todo.id), listGeneration(cache, owner)]);
      return claim;
    },
    release: (owner, key, lease) => store.release(owner, key, lease),
    purgeExpired: () => store.purgeExpired(),
  };
}
