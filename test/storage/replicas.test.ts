// Two replicas (two processes) on one PostgreSQL and one Redis: once a write is acknowledged by one replica,
// neither replica serves the old value — not for the todo, not in a list page — while other writers and
// readers race it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Todo } from '../../src/todos/repository.js';
import { freshRedisPrefix, freshSchema, http, postgres, redis, spawnService, type Proc } from '../support/helpers.js';

const WRITERS = 4;
const ROUNDS = 60;

describe('two replicas share PostgreSQL and the Redis cache coherently', { skip: postgres.skip ?? redis.skip }, () => {
  let db: Awaited<ReturnType<typeof freshSchema>>;
  let cache: ReturnType<typeof freshRedisPrefix>;
  let a: Proc;
  let b: Proc;

  before(async () => {
    db = await freshSchema();
    cache = freshRedisPrefix();
    const env = { DATABASE_URL: db.url, REDIS_URL: cache.url, REDIS_KEY_PREFIX: cache.prefix };
    [a, b] = await Promise.all([spawnService(env), spawnService(env)]);
  });
  after(async () => {
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
    await cache.clear();
    await db.drop();
  });

  test(`${WRITERS} concurrent writers × ${ROUNDS} rounds, each write read back through the other replica`, async () => {
    let stop = false;
    let reads = 0;
    // Readers keep both replicas' caches busy, so stale fills would have every chance to happen.
    const readers = [a, b].map(async (replica) => {
      while (!stop) {
        await http(replica.url, 'GET', '/api/todos?limit=100');
        reads++;
      }
    });

    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const created = await http<{ todo: Todo }>(a.url, 'POST', '/api/todos', { body: { title: `writer ${w} round -1` } });
      const id = created.body.todo.id;
      for (let round = 0; round < ROUNDS; round++) {
        const [writeVia, readVia] = round % 2 === 0 ? [a, b] : [b, a];
        // Warm the reader's cache with the current value first, so a stale entry exists to be missed.
        await http(readVia.url, 'GET', `/api/todos/${id}`);
        const expected = `writer ${w} round ${round}`;
        const put = await http<{ todo: Todo }>(writeVia.url, round % 3 === 0 ? 'PATCH' : 'PUT', `/api/todos/${id}`, {
          body: { title: expected, completed: round % 2 === 0 },
        });
        assert.equal(put.status, 200);
        const got = await http<{ todo: Todo }>(readVia.url, 'GET', `/api/todos/${id}`);
        assert.equal(got.body.todo.title, expected, `stale todo ${id} from the other replica`);
        assert.equal(got.body.todo.completed, round % 2 === 0);
        const page = await http<{ todos: Todo[] }>(readVia.url, 'GET', '/api/todos?limit=100');
        assert.equal(page.body.todos.find((t) => t.id === id)?.title, expected, `stale list page for todo ${id}`);
      }
      const deleted = await http(a.url, 'DELETE', `/api/todos/${id}`);
      assert.equal(deleted.status, 200);
      assert.equal((await http(b.url, 'GET', `/api/todos/${id}`)).status, 404, 'a deleted todo is gone on the other replica');
    });

    try {
      await Promise.all(writers);
    } finally {
      stop = true;
      await Promise.all(readers);
    }
    assert.ok(reads > 0);
    const total = await http<{ pagination: { total_items: number } }>(b.url, 'GET', '/api/todos');
    assert.equal(total.body.pagination.total_items, 0);

    // The coherence above means something only if the cache served reads: both replicas had hits, and misses.
    for (const replica of [a, b]) {
      const hits = await cacheEvents(replica, 'hit');
      assert.ok(hits >= 50, `${replica.url} served ${hits} reads from the cache`);
      assert.ok((await cacheEvents(replica, 'miss')) > 0);
      assert.equal(await cacheEvents(replica, 'error'), 0, 'and Redis never failed');
    }
  });
});

/** cache_requests_total{result} of one replica, from its /metrics. */
async function cacheEvents(replica: Proc, result: 'hit' | 'miss' | 'error'): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`cache_requests_total{result="${result}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
