// PostgreSQL operations: migrations under concurrent start-up, the migrate command, connecting with retry,
// and outages — fast 503s while the database is gone, recovery without a restart when it is back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrations as pgMigrations } from '../../src/storage/postgres/migrations.js';
import { MAIN, assertProblem, freshSchema, http, postgres, startService, waitFor, type TestService } from '../support/helpers.js';
import { startProxy, type TcpProxy } from '../support/tcp-proxy.js';


async function migrationRows(url: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
  } finally {
    await client.end();
  }
}

/** The database URL with its host and port replaced by the proxy's. */
function through(proxy: TcpProxy, url: string): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

describe('postgres', { skip: postgres.skip }, () => {
  test('replicas starting at once migrate once, under the advisory lock', async () => {
    const db = await freshSchema();
    try {
      const replicas = await Promise.all([1, 2, 3].map(() => startService({ DATABASE_URL: db.url })));
      for (const r of replicas) assert.equal((await http(r.url, 'GET', '/api/todos')).status, 200);
      await Promise.all(replicas.map((r) => r.dispose()));
      assert.deepEqual(await migrationRows(db.url), pgMigrations.map(({ version, name }) => ({ version, name })));
    } finally {
      await db.drop();
    }
  });

  test('MIGRATE_ON_START=false refuses a pending schema; the migrate command applies it and shows status', async () => {
    const db = await freshSchema();
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [MAIN, 'migrate', ...args], { env: { PATH: process.env.PATH, DATABASE_URL: db.url } });
    try {
      const all = pgMigrations.map((m) => m.version).join(', ');
      await assert.rejects(startService({ DATABASE_URL: db.url, MIGRATE_ON_START: 'false' }), new RegExp(`${pgMigrations.length} migration\\(s\\) pending \\(${all}\\).*npm run migrate`));

      const status = await run('status');
      assert.match(status.stdout, /postgres schema: 0 migration\(s\) applied now/);
      assert.match(status.stdout, /1 {2}create_todos +PENDING/);

      const applied = await run();
      assert.match(applied.stdout, new RegExp(`${pgMigrations.length} migration\\(s\\) applied now`));
      assert.match(applied.stdout, /1 {2}create_todos +\d{4}-\d\d-\d\dT/);
      assert.match((await run()).stdout, /0 migration\(s\) applied now/, 'a second run is a no-op');

      const svc = await startService({ DATABASE_URL: db.url, MIGRATE_ON_START: 'false' });
      assert.equal((await http(svc.url, 'POST', '/api/todos', { body: { title: 'after migrate' } })).status, 201);
      await svc.dispose();
    } finally {
      await db.drop();
    }
  });

  describe('through a proxy that can fail', () => {
    let db: Awaited<ReturnType<typeof freshSchema>>;
    let proxy: TcpProxy;
    before(async () => {
      db = await freshSchema();
      const target = new URL(postgres.url!);
      proxy = await startProxy(target.hostname, Number(target.port || 5432));
    });
    after(async () => {
      await proxy.close();
      await db.drop();
    });

    test('start-up retries with backoff, logging each attempt, until the database answers', async () => {
      await proxy.down();
      const logs: Record<string, unknown>[] = [];
      const starting = startService({ DATABASE_URL: through(proxy, db.url), DB_CONNECT_TIMEOUT_MS: '20000' });
      // Let a few attempts fail before the database "comes up".
      await new Promise((r) => setTimeout(r, 1500));
      await proxy.up();
      const svc = await starting;
      logs.push(...svc.logs);
      const attempts = logs.filter((l) => l.msg === 'postgres: not reachable yet, retrying');
      assert.ok(attempts.length >= 2, `expected logged retries, got ${attempts.length}`);
      assert.deepEqual(attempts.map((l) => l.attempt), attempts.map((_, i) => i + 1));
      assert.ok(logs.some((l) => l.msg === 'postgres: connected'));
      await svc.dispose();
    });

    test('start-up gives up after DB_CONNECT_TIMEOUT_MS with a clear error', async () => {
      await proxy.down();
      try {
        await assert.rejects(startService({ DATABASE_URL: through(proxy, db.url), DB_CONNECT_TIMEOUT_MS: '600' }), /postgres: not reachable after \d+ attempts in 600 ms/);
      } finally {
        await proxy.up();
      }
    });

    describe('while serving', () => {
      let svc: TestService;
      let id: number;
      before(async () => {
        svc = await startService({ DATABASE_URL: through(proxy, db.url), DB_STATEMENT_TIMEOUT_MS: '1000' });
        id = (await http<{ todo: { id: number } }>(svc.url, 'POST', '/api/todos', { body: { title: 'outage' } })).body.todo.id;
      });
      after(async () => {
        await svc.dispose();
      });

      async function expectFast503(): Promise<void> {
        for (const [method, path, body] of [['GET', `/api/todos/${id}`], ['GET', '/api/todos'], ['POST', '/api/todos', { title: 'lost?' }]] as const) {
          const started = performance.now();
          const r = await http(svc.url, method, path, { body });
          const took = performance.now() - started;
          assertProblem(r, 503, assert);
          assert.equal(r.headers.get('retry-after'), '1');
          // Bounded by the statement timeout (1 s here), never a hang.
          assert.ok(took < 3000, `${method} ${path} took ${Math.round(took)} ms`);
        }
      }

      async function expectRecovery(): Promise<void> {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const r = await http(svc.url, 'GET', `/api/todos/${id}`);
          if (r.status === 200) break;
          assert.ok(Date.now() < deadline, `no recovery: last status ${r.status}`);
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal((await http(svc.url, 'POST', '/api/todos', { body: { title: 'after the outage' } })).status, 201);
      }

      test('database down (connections cut, new ones refused): fast 503s, then recovery without a restart', async () => {
        await proxy.down();
        await expectFast503();
        await expectFast503();
        await proxy.up();
        await expectRecovery();
      });

      test('database silent (network partition): 503 within the statement timeout, then recovery', async () => {
        proxy.blackhole();
        await expectFast503();
        await proxy.up();
        await expectRecovery();
      });
    });

    // A write with an Idempotency-Key runs in a transaction on a connection checked out of the pool. Here it is
    // held mid-transaction (its INSERT waits for a table lock) while every connection is cut, as when PostgreSQL's
    // postmaster is killed: scripts/drills/postgres-kill.mjs found both bugs below under load.
    describe('connections cut in the middle of a transaction', () => {
      let svc: TestService;
      let admin: pg.Client;
      before(async () => {
        svc = await startService({ DATABASE_URL: through(proxy, db.url), DB_STATEMENT_TIMEOUT_MS: '10000' });
        admin = new pg.Client({ connectionString: db.url });
        await admin.connect();
      });
      after(async () => {
        await admin.end();
        await svc.dispose();
      });

      /** Sends a write that blocks inside its transaction, cuts every connection, and returns its answer. */
      async function cutMidTransaction(method: string, path: string, body: unknown, key: string) {
        await admin.query('BEGIN');
        await admin.query('LOCK TABLE todos IN ACCESS EXCLUSIVE MODE');
        try {
          const pending = http(svc.url, method, path, { body, headers: { 'idempotency-key': key } });
          await waitFor('the write to wait for the lock', async () => {
            const { rows } = await admin.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'todo-service' AND wait_event_type = 'Lock'",
            );
            return rows[0]!.n > 0 ? true : undefined;
          });
          await proxy.down();
          return await pending;
        } finally {
          await admin.query('ROLLBACK');
        }
      }

      test('an error on a checked-out connection is a 503, not a crash (no unhandled "error" event)', async () => {
        const id = (await http<{ todo: { id: number } }>(svc.url, 'POST', '/api/todos', { body: { title: 'checked out' } })).body.todo.id;
        // The service runs in this process: an 'error' event nobody listens for is an uncaught exception here (in
        // production, "fatal error, shutting down" and exit 1).
        const uncaught: unknown[] = [];
        const onUncaught = (error: unknown) => uncaught.push(error);
        process.prependListener('uncaughtException', onUncaught);
        try {
          const r = await cutMidTransaction('PATCH', `/api/todos/${id}`, { description: 'cut' }, 'checked-out-1');
          assertProblem(r, 503, assert);
          assert.equal(r.headers.get('retry-after'), '1');
          await new Promise((resolve) => setTimeout(resolve, 200)); // the connection's 'end' comes after the answer
        } finally {
          process.removeListener('uncaughtException', onUncaught);
          await proxy.up();
        }
        assert.deepEqual(uncaught.map(String), []);
        // and the service serves again once the database is back
        await waitFor('recovery', async () => ((await http(svc.url, 'GET', `/api/todos/${id}`)).status === 200 ? true : undefined));
      });

      test('a write failed by the outage gives its Idempotency-Key back once the database is back, not after the lease', async () => {
        const body = { title: 'released key' };
        try {
          const r = await cutMidTransaction('POST', '/api/todos', body, 'released-1');
          assertProblem(r, 503, assert);
        } finally {
          await proxy.up();
        }
        // the retry runs the write (201), well within the lease (REQUEST_TIMEOUT_MS, 30 s): no 409 until then
        const started = Date.now();
        const statuses: number[] = [];
        const created = await waitFor('the retry with the same key to be run', async () => {
          const r = await http(svc.url, 'POST', '/api/todos', { body, headers: { 'idempotency-key': 'released-1' } });
          statuses.push(r.status);
          return r.status === 201 ? r : undefined;
        }, 5000);
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms: ${statuses.join(', ')}`);
        assert.equal(created.headers.get('idempotent-replayed'), null);
        const { rows } = await admin.query('SELECT id FROM todos WHERE title = $1', [body.title]);
        assert.equal(rows.length, 1);
        // and a repeat now gets the stored answer
        const again = await http(svc.url, 'POST', '/api/todos', { body, headers: { 'idempotency-key': 'released-1' } });
        assert.equal(again.status, 201);
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
      });
    });
  });
});
