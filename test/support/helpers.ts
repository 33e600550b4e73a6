// Test helpers: start the real service through run() on port 0 with a fresh SQLite file, speak HTTP to it,
// and capture its log lines. Nothing is mocked.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import pg from 'pg';
import { run, type Service } from '../../src/run.js';
import { checkResponse, forgetDocument } from './openapi-validator.js';

export interface TestService extends Service {
  dir: string;
  dbPath: string;
  logs: Record<string, unknown>[];
  /** Stops the service (keeping its files); `dispose` also deletes them. */
  stop: () => Promise<void>;
  dispose: () => Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'todo-test-'));
}

/**
 * The runtime of the service under test. `node` (default): startService() runs the service in this process
 * through run(). `bun` (TEST_RUNTIME=bun, as .ci/run sets it for the HTTP-level suites): startService() and
 * spawnService() run the production bundle under Bun (TEST_BUN, else `bun` on PATH) as its own process, so the
 * same suites check the service on Bun. In that mode `app` is not available (no in-process Fastify instance),
 * and log lines arrive as the process writes them (batched: read them with waitFor).
 */
export const TEST_RUNTIME: 'node' | 'bun' = process.env.TEST_RUNTIME === 'bun' ? 'bun' : 'node';
const SERVICE_COMMAND = TEST_RUNTIME === 'bun' ? (process.env.TEST_BUN ?? 'bun') : process.execPath;

/** Starts the service through run() on port 0; SQLite in `dir` unless `env` names another DATABASE_URL. */
export async function startService(env: Record<string, string> = {}, dir = tempDir()): Promise<TestService> {
  if (TEST_RUNTIME === 'bun') return startServiceProcess(env, dir);
  const dbPath = join(dir, 'todos.db');
  const logs: Record<string, unknown>[] = [];
  const controller = new AbortController();
  const service = await run({
    env: { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '2000', SHUTDOWN_DELAY_MS: '0', DB_CONNECT_TIMEOUT_MS: '2000', ...env },
    signal: controller.signal,
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const stop = async () => {
    controller.abort();
    await service.close();
    forgetDocument(service.url);
    forgetDocument(service.managementUrl);
  };
  return {
    ...service,
    dir,
    dbPath,
    logs,
    stop,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** startService() under TEST_RUNTIME=bun: the bundle as its own process, with run()'s test environment. */
async function startServiceProcess(env: Record<string, string>, dir: string): Promise<TestService> {
  const dbPath = join(dir, 'todos.db');
  const proc = await spawnService(
    { DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '2000', DB_CONNECT_TIMEOUT_MS: '2000', ...env },
    { dir },
  );
  const listening = proc.logs.find((l) => l.msg === 'listening')!;
  const url = listening.url as string;
  const managementUrl = listening.management_url as string;
  const grpcUrl = listening.grpc_url as string | undefined;
  const stop = async () => {
    await proc.stop();
    forgetDocument(url);
    forgetDocument(managementUrl);
  };
  return {
    app: undefined as never,
    url,
    port: Number(new URL(url).port),
    managementUrl,
    grpcUrl,
    close: stop,
    dir,
    dbPath,
    logs: proc.logs,
    stop,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/**
 * One HTTP request; the body is sent as JSON unless it is already a string. The response is checked against
 * the OpenAPI document the service serves (test/support/openapi-validator.ts): an undocumented status, content type
 * or body shape throws, so every test that speaks HTTP through here also tests the document.
 */
export async function http<T = any>(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> | undefined } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) {
    init.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
  // fetch sends the path normalized as a URL (`/a/../b` → `/b`); the check sees it the same way.
  const sent = new URL(base + path);
  await checkResponse(base, { method, path: sent.pathname, query: sent.search.slice(1), status: res.status, contentType: res.headers.get('content-type'), body: parsed, text });
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Asserts the RFC 9457 shape that every error of the service has, plus the Go reference's members. */
export function assertProblem(reply: Reply, status: number, assert: typeof import('node:assert/strict')): void {
  assert.equal(reply.status, status, `expected ${status}, got ${reply.status}: ${reply.text}`);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const p = reply.body as Record<string, unknown>;
  assert.equal(p.status, status);
  for (const key of ['type', 'title', 'detail', 'instance', 'error', 'timestamp', 'request_id']) {
    assert.equal(typeof p[key], 'string', `problem member ${key} should be a string: ${reply.text}`);
  }
  assert.equal(p.error, p.detail);
  assert.ok(!Number.isNaN(Date.parse(p.timestamp as string)));
  assert.equal(p.request_id, reply.headers.get('x-request-id'));
}

/** The production bundle (`npm run build`), used by tests that run the service as its own process. */
export const MAIN = new URL('../../dist/main.cjs', import.meta.url).pathname;

export interface Proc {
  child: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  waitForLog: (msg: string) => Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/** Runs the production bundle as its own process (on TEST_RUNTIME) and waits for its "listening" line. */
export async function spawnService(env: Record<string, string> = {}, options: { stderr?: 'inherit' | 'ignore'; dir?: string } = {}): Promise<Proc> {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` (npm test does)`);
  const dir = options.dir ?? tempDir();
  const child = spawn(SERVICE_COMMAND, [MAIN], {
    cwd: dir,
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(dir, 't.db')}`, SHUTDOWN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (raw) => {
    const line = JSON.parse(raw) as Record<string, unknown>;
    logs.push(line);
    for (const w of waiters.filter((w) => w.msg === line.msg)) w.resolve(line);
  });
  const waitForLog = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = logs.find((l) => l.msg === msg);
      if (seen) return resolve(seen);
      waiters.push({ msg, resolve });
      void exit.then((code) => reject(new Error(`process exited (${code}) before logging "${msg}"`)));
      setTimeout(() => reject(new Error(`no "${msg}" log line within 30 s`)), 30_000).unref();
    });
  const listening = await waitForLog('listening');
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    forgetDocument(listening.url as string);
    return exit;
  };
  return { child, url: listening.url as string, logs, waitForLog, exit, stop };
}

// ---- external services: PostgreSQL and Redis -----------------------------------------------------------------
// TEST_DATABASE_URL / TEST_REDIS_URL name them (CI sets both and must fail if they are missing). Unset, the
// local defaults are tried; when nothing answers there, the suites that need them are skipped with the reason.

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

async function reachablePostgres(): Promise<{ url?: string; skip?: string }> {
  const url = process.env.TEST_DATABASE_URL;
  const client = new pg.Client({ connectionString: url ?? DEFAULT_PG, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return { url: url ?? DEFAULT_PG };
  } catch (error) {
    if (url) throw new Error(`TEST_DATABASE_URL=${url} is set but PostgreSQL does not answer: ${(error as Error).message}`);
    return { skip: `PostgreSQL: TEST_DATABASE_URL is unset and nothing answers at ${DEFAULT_PG}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function reachableRedis(): Promise<{ url?: string; skip?: string }> {
  const url = process.env.TEST_REDIS_URL;
  const client = new Redis(url ?? DEFAULT_REDIS, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
    return { url: url ?? DEFAULT_REDIS };
  } catch (error) {
    if (url) throw new Error(`TEST_REDIS_URL=${url} is set but Redis does not answer: ${(error as Error).message}`);
    return { skip: `Redis: TEST_REDIS_URL is unset and nothing answers at ${DEFAULT_REDIS}` };
  } finally {
    client.disconnect();
  }
}

export const postgres = await reachablePostgres();
export const redis = await reachableRedis();
for (const skip of [postgres.skip, redis.skip]) if (skip) process.stderr.write(`# skipping: ${skip}\n`);

const uniqueName = (kind: string) => `${kind}_${process.pid}_${randomBytes(4).toString('hex')}`;

/** A fresh PostgreSQL schema for one test service; drop() removes it with everything in it. */
export async function freshSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  if (!postgres.url) throw new Error(postgres.skip);
  const schema = uniqueName('t');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(postgres.url);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: postgres.url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** A fresh Redis key prefix for one test; clear() deletes every key under it. */
export function freshRedisPrefix(): { url: string; prefix: string; clear: () => Promise<void> } {
  if (!redis.url) throw new Error(redis.skip);
  const prefix = `${uniqueName('test')}:`;
  const url = redis.url;
  return {
    url,
    prefix,
    clear: async () => {
      const client = new Redis(url);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await client.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    },
  };
}

/** A storage configuration the contract suite runs against. */
export interface Backend {
  name: string;
  /** Why this backend cannot run here; the suite is then skipped with that reason. */
  skip: string | undefined;
  start(env?: Record<string, string>): Promise<TestService>;
}

async function startWithCleanup(env: Record<string, string>, cleanups: (() => Promise<void>)[]): Promise<TestService> {
  const svc = await startService(env);
  const dispose = svc.dispose;
  return {
    ...svc,
    dispose: async () => {
      await dispose();
      for (const cleanup of cleanups) await cleanup();
    },
  };
}

export const backends: Backend[] = [
  { name: 'sqlite', skip: undefined, start: (env = {}) => startService(env) },
  {
    name: 'postgres',
    skip: postgres.skip,
    start: async (env = {}) => {
      const db = await freshSchema();
      return startWithCleanup({ DATABASE_URL: db.url, ...env }, [db.drop]);
    },
  },
  {
    name: 'postgres+redis',
    skip: postgres.skip ?? redis.skip,
    start: async (env = {}) => {
      const db = await freshSchema();
      const cache = freshRedisPrefix();
      return startWithCleanup({ DATABASE_URL: db.url, REDIS_URL: cache.url, REDIS_KEY_PREFIX: cache.prefix, ...env }, [db.drop, cache.clear]);
    },
  },
];

/** Polls `fn` every 50 ms until it returns something other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
