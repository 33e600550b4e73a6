// The gRPC contract's tooling: the proto passes `buf lint`, the committed generated code is what
// `npm run proto:generate` makes from it now, and the README's `buf curl` example works against the server
// through reflection (buf is the @bufbuild/buf dev dependency). `buf breaking` runs in .ci/run (it needs git).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startService, tempDir } from '../support/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'node_modules/.bin');
const BUF = join(BIN, 'buf');
const CACHE = tempDir();
after(() => rmSync(CACHE, { recursive: true, force: true }));

const buf = (...args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(BUF, args, { cwd: ROOT, env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, BUF_CACHE_DIR: CACHE } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();

test('buf lint passes on proto/', async () => {
  const lint = await buf('lint');
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
});

test('the committed src/grpc/gen is what protoc-gen-es generates from proto/ now', async () => {
  const out = tempDir();
  try {
    const generated = await buf('generate', '--output', out);
    assert.equal(generated.code, 0, generated.stderr);
    const fresh = join(out, 'src/grpc/gen');
    const committed = join(ROOT, 'src/grpc/gen');
    assert.deepEqual(filesUnder(fresh), filesUnder(committed));
    for (const file of filesUnder(fresh)) {
      assert.equal(readFileSync(join(committed, file), 'utf8'), readFileSync(join(fresh, file), 'utf8'), `${file} is stale: run npm run proto:generate`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the README's buf curl example: reflection, then a call over gRPC", async () => {
  const svc = await startService({ GRPC_PORT: '0' });
  try {
    const target = `${svc.grpcUrl!}/todo.v1.TodoService`;
    const created = await buf('curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{"title": "Buy milk"}', `${target}/CreateTodo`);
    assert.equal(created.code, 0, created.stderr);
    const todo = (JSON.parse(created.stdout) as { todo: { id: string; title: string; createdAt: string } }).todo;
    assert.equal(todo.title, 'Buy milk');
    assert.match(todo.createdAt, /^\d{4}-\d\d-\d\dT/);

    const methods = await buf('curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', svc.grpcUrl!);
    assert.match(methods.stdout, /^todo\.v1\.TodoService\/GetTodo$/m);
    const missing = await buf('curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{"id": "999"}', `${target}/GetTodo`);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /"code": "not_found"/);
  } finally {
    await svc.dispose();
  }
});
