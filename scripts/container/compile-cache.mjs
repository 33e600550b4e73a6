// Bakes Node's module compile cache (NODE_COMPILE_CACHE) into the image, at build time, so a container starts
// from V8's code cache instead of parsing and compiling the bundle: ~100 ms less start-up and ~8 MB less
// memory at start (docs/DECISIONS.md, "Deployment"). Run by the Dockerfile's `compile-cache` stage, on the
// runtime image's own Node and as the service's user: the cache is only valid for the same Node version,
// architecture, user id and file contents at the same paths.
//
// It starts the service (SQLite in a temporary directory), sends each kind of request once so that the code
// of the request path is compiled too, runs the healthcheck bundle, then stops the service with SIGTERM; Node
// writes the cache as each process exits. At run time the cache is read-only (read-only root filesystem):
// Node reads it and skips writing.
//
// Usage: NODE_COMPILE_CACHE=<dir> node scripts/container/compile-cache.mjs <app dir>
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const app = process.argv[2] ?? '/app';
const cacheDir = process.env.NODE_COMPILE_CACHE;
if (!cacheDir) throw new Error('compile-cache: set NODE_COMPILE_CACHE');
const dir = mkdtempSync(join(tmpdir(), 'compile-cache-'));
const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(dir, 'todos.db')}`, LOG_LEVEL: 'info', SHUTDOWN_DELAY_MS: '0' };

const child = spawn(process.execPath, [join(app, 'dist/main.cjs')], { cwd: app, env, stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
const url = await new Promise((resolve, reject) => {
  createInterface({ input: child.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line);
    if (parsed.msg === 'listening') resolve(parsed.url);
  });
  void exited.then((code) => reject(new Error(`compile-cache: the service exited (${code}) before listening`)));
});

const call = async (method, path, body) => {
  const res = await fetch(url + path, { method, body: body && JSON.stringify(body), headers: body ? { 'content-type': 'application/json' } : {} });
  await res.arrayBuffer();
  return res.status;
};
for (let round = 0; round < 3; round++) {
  await call('GET', '/health');
  await call('GET', '/');
  await call('POST', '/api/todos', { title: 'warm', description: 'compile cache' });
  await call('GET', '/api/todos?page=1&limit=10');
  await call('GET', '/api/todos/1');
  await call('PUT', '/api/todos/1', { completed: true });
  await call('PATCH', '/api/todos/1', { title: 'warm again' });
  await call('POST', '/api/todos', { description: 'no title' }); // 400
  await call('GET', '/api/todos/abc'); // 400
  await call('GET', '/api/todos/999999'); // 404
  await call('DELETE', '/api/todos/1');
  await call('GET', '/nowhere'); // 404
  await call('DELETE', '/'); // 405
  await call('GET', '/livez');
  await call('GET', '/readyz');
  await call('GET', '/metrics');
  await call('GET', '/metrics/json');
}
const port = new URL(url).port;
const health = spawnSync(process.execPath, [join(app, 'dist/healthcheck.cjs')], { cwd: app, env: { ...env, PORT: port }, stdio: 'inherit' });
if (health.status !== 0) throw new Error(`compile-cache: the healthcheck failed (${health.status})`);

child.kill('SIGTERM');
const code = await exited;
if (code !== 0) throw new Error(`compile-cache: the service exited with ${code} after SIGTERM`);
const entries = readdirSync(cacheDir, { recursive: true }).length;
console.log(`compile-cache: ${entries} entries in ${cacheDir}`);
