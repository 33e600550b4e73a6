// Writes the OpenAPI document that the built service serves: starts dist/main.cjs on a free port with a
// throwaway SQLite database, GETs /openapi.json (and /openapi.yaml), writes them to dist/, and stops the
// service. The document is the one clients get, not a second rendering of the schemas.
//
// Usage: node scripts/openapi.mjs [OUT_DIR]      (default dist/; run `npm run build` first)
// Output: dist/openapi.json and dist/openapi.yaml; exit status 1 when the service does not start or answer.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'dist', 'main.cjs');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const TIMEOUT_MS = 20_000;

if (!existsSync(main)) {
  process.stderr.write(`${main} is missing: run \`npm run build\` first\n`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'todo-openapi-'));
// A clean environment: the document must not depend on whoever runs this (no PUBLIC_URL, no .env).
const child = spawn(process.execPath, [main], {
  cwd: dir,
  env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(dir, 'todos.db')}`, SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((res) => child.once('exit', (code) => res(code)));

function listening() {
  return new Promise((res, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" log line within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    void exited.then((code) => reject(new Error(`the service exited (${code}) before listening`)));
    createInterface({ input: child.stdout }).on('line', (raw) => {
      let line;
      try {
        line = JSON.parse(raw);
      } catch {
        return;
      }
      if (line.msg === 'listening') {
        clearTimeout(timer);
        res(line.url);
      }
    });
  });
}

async function get(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

let code = 0;
try {
  const url = await listening();
  const json = await get(`${url}/openapi.json`);
  const yaml = await get(`${url}/openapi.yaml`);
  const doc = JSON.parse(json);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'openapi.json'), `${JSON.stringify(doc, null, 2)}\n`);
  writeFileSync(join(out, 'openapi.yaml'), yaml);
  const operations = Object.values(doc.paths ?? {}).reduce((n, item) => n + Object.keys(item).length, 0);
  process.stdout.write(`wrote ${join(out, 'openapi.json')} and openapi.yaml: OpenAPI ${doc.openapi}, ${operations} operations\n`);
} catch (error) {
  process.stderr.write(`openapi: ${error.message}\n`);
  code = 1;
} finally {
  if (child.exitCode === null) child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
