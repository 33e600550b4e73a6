// Durability and process lifecycle: data survives restarts, migrations run once, and a SIGTERM lets the
// request in flight finish before the process exits 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Todo } from '../../src/todos/repository.js';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { run } from '../../src/run.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations.js';
import { freshRedisPrefix, freshSchema, http, postgres, redis, spawnService, startService, tempDir } from '../support/helpers.js';

const HEALTHCHECK = new URL('../../dist/healthcheck.cjs', import.meta.url).pathname;

describe('storage', () => {
  test('todos survive a restart on the same file', async () => {
    const first = await startService();
    const created = await http<{ todo: Todo }>(first.url, 'POST', '/api/todos', { body: { title: 'durable', description: 'still here' } });
    await http(first.url, 'PATCH', `/api/todos/${created.body.todo.id}`, { body: { completed: true } });
    await first.stop();

    const second = await startService({}, first.dir);
    try {
      const r = await http<{ todo: Todo }>(second.url, 'GET', `/api/todos/${created.body.todo.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.todo.title, 'durable');
      assert.equal(r.body.todo.completed, true);
      const list = await http<{ pagination: { total_items: number } }>(second.url, 'GET', '/api/todos?completed=true');
      assert.equal(list.body.pagination.total_items, 1, 'the counters survive too');
    } finally {
      await second.dispose();
    }
  });

  test('the file is created with its folder, in WAL mode, and each migration is recorded once', async () => {
    const dir = join(tempDir(), 'nested', 'deeper');
    const svc = await startService({}, dir);
    await svc.stop();
    const again = await startService({}, dir);
    await again.stop();
    assert.ok(existsSync(svc.dbPath));
    const db = new Database(svc.dbPath, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows, sqliteMigrations.map(({ version, name }) => ({ version, name })));
    } finally {
      db.close();
    }
  });

  test('a database migrated by a newer build is refused, not damaged', async () => {
    const svc = await startService();
    await svc.stop();
    const db = new Database(svc.dbPath);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')").run();
    db.close();
    await assert.rejects(startService({}, svc.dir), /schema is newer than this build/);
  });
});

/** Opens a raw connection and starts a POST with `Expect: 100-continue`; resolves once the server has read the headers. */
async function startSlowPost(url: string, body: string): Promise<{ socket: Socket; response: Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let received = '';
  const gotContinue = new Promise<void>((resolve) => {
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (received.includes('100 Continue')) resolve();
    });
  });
  const response = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.write(
    `POST /api/todos HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
  );
  await gotContinue; // the request is now in flight inside the server
  return { socket, response };
}

describe('graceful shutdown', () => {
  test('SIGTERM: the request in flight completes with its 201, new connections are refused, exit 0', async () => {
    const proc = await spawnService({ SHUTDOWN_TIMEOUT_MS: '10000' });
    const body = JSON.stringify({ title: 'in flight during SIGTERM' });
    const { socket, response } = await startSlowPost(proc.url, body);

    proc.child.kill('SIGTERM');
    await proc.waitForLog('shutting down: draining in-flight requests');
    await assert.rejects(fetch(proc.url + '/health'), 'the listener is closed');

    socket.write(body);
    const raw = await response;
    assert.match(raw, /HTTP\/1\.1 201 Created/);
    assert.match(raw, /in flight during SIGTERM/);
    assert.equal(await proc.exit, 0);
    assert.ok(proc.logs.some((l) => l.msg === 'stopped'));
  });

  test('SIGINT shuts down the same way', async () => {
    const proc = await spawnService();
    assert.equal((await fetch(proc.url + '/health')).status, 200);
    proc.child.kill('SIGINT');
    assert.equal(await proc.exit, 0);
  });

  test('a request that never finishes is cut after SHUTDOWN_TIMEOUT_MS and the process still exits', async () => {
    const proc = await spawnService({ SHUTDOWN_TIMEOUT_MS: '300' });
    const { response } = await startSlowPost(proc.url, '{"title":"never sent"}');
    proc.child.kill('SIGTERM');
    const raw = await response; // the server closes the connection without answering the request
    assert.doesNotMatch(raw, /201 Created/);
    assert.equal(await proc.exit, 0);
  });
});

describe('start-up that fails half-way', () => {
  test('closes what it opened: no database or Redis connection is left behind', { skip: postgres.skip ?? redis.skip }, async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const db = await freshSchema();
    const cache = freshRedisPrefix();
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    try {
      // Storage, the cache and the app are built, then listening fails: the port is taken.
      await assert.rejects(
        run({
          env: { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, REDIS_URL: cache.url, REDIS_KEY_PREFIX: cache.prefix, LOG_LEVEL: 'silent' },
          signal: new AbortController().signal,
        }),
        /EADDRINUSE/,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(sockets(), before, 'the PostgreSQL pool and the Redis client were closed');
    } finally {
      taken.close();
      await db.drop();
      await cache.clear();
    }
  });
});

describe('npm start', () => {
  test('SIGTERM to the npm process shuts the service down gracefully (npm passes it on to node)', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(dir, 't.db')}`, SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Record<string, unknown>[] = [];
    const listening = new Promise<Record<string, unknown>>((resolve) =>
      createInterface({ input: npm.stdout }).on('line', (raw) => {
        if (!raw.startsWith('{')) return; // npm's own output, if any
        const line = JSON.parse(raw) as Record<string, unknown>;
        lines.push(line);
        if (line.msg === 'listening') resolve(line);
      }),
    );
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    const started = await listening;
    const servicePid = started.pid as number;
    assert.notEqual(servicePid, npm.pid, 'the service runs in its own process');
    npm.kill('SIGTERM');
    assert.equal(await exited, 0, 'npm exits 0');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(lines.some((l) => l.msg === 'stopped'), 'the service drained and logged "stopped"');
    assert.throws(() => process.kill(servicePid, 0), /ESRCH/, 'and its process is gone, not left running under PID 1');
  });
});

describe('the healthcheck subcommand (the image HEALTHCHECK)', () => {
  test('exits 0 while /livez answers, 1 when nothing listens', async () => {
    const proc = await spawnService({ MANAGEMENT_PORT: '0' });
    const run = (port: string) =>
      new Promise<number | null>((resolve) => {
        execFile(process.execPath, [HEALTHCHECK], { env: { PATH: process.env.PATH, MANAGEMENT_PORT: port } }, (error) =>
          resolve(error ? (error as { code?: number }).code ?? 1 : 0),
        );
      });
    try {
      const management = proc.logs.find((l) => l.msg === 'listening')!.management_url as string;
      assert.equal(await run(new URL(management).port), 0);
    } finally {
      assert.equal(await proc.stop(), 0);
    }
    const closed = new URL(proc.logs.find((l) => l.msg === 'listening')!.management_url as string).port;
    assert.equal(await run(closed), 1);
  });
});
