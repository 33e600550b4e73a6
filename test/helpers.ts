// Test helpers: start the real service through run() on port 0 with a fresh SQLite file, speak HTTP to it,
// and capture its log lines. Nothing is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type Service } from '../src/run.js';

export interface TestService extends Service {
  dir: string;
  dbPath: string;
  logs: Record<string, unknown>[];
  /** Stops the service (keeping its files); `dispose` also deletes them. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'todo-test-'));
}

export async function startService(env: Record<string, string> = {}, dir = tempDir()): Promise<TestService> {
  const dbPath = join(dir, 'todos.db');
  const logs: Record<string, unknown>[] = [];
  const controller = new AbortController();
  const service = await run({
    env: { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${dbPath}`, LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '2000', ...env },
    signal: controller.signal,
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const stop = async () => {
    controller.abort();
    await service.close();
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

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP request; the body is sent as JSON unless it is already a string. */
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
export const MAIN = new URL('../dist/main.cjs', import.meta.url).pathname;
