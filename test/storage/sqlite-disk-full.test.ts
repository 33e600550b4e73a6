// SQLite on a full disk (a small tmpfs of the test's own, so root only): writes answer 507 problems, reads go on,
// and writes work again once space is freed, in the same process. Two ways the disk runs out: the WAL or the
// database file cannot grow (SQLITE_FULL), and the WAL's index (the -shm file) cannot grow when a reader holding a
// snapshot (an online backup) keeps the WAL from being checkpointed past its first 4,062 frames
// (SQLITE_IOERR_SHMSIZE, which was a 500).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { assertProblem, http, startService, tempDir, type TestService } from '../support/helpers.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root to mount a tmpfs';

/** A tmpfs of `kb` KB in a fresh folder; `unmount` removes both. */
function smallDisk(kb: number): { dir: string; unmount: () => void } {
  const base = tempDir();
  const dir = join(base, 'disk');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', dir]);
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Allocates a file that leaves `leaveBytes` free on the file system of `dir`. */
function fill(dir: string, leaveBytes: number): string {
  const s = statfsSync(dir);
  const path = join(dir, 'filler');
  execFileSync('fallocate', ['-l', String(Number(s.bavail) * Number(s.bsize) - leaveBytes), path]);
  return path;
}

async function create(svc: TestService, title: string) {
  return http<{ todo: { id: number } }>(svc.url, 'POST', '/api/todos', { body: { title } });
}

/** Creates todos until one is refused; returns that reply and how many were created. */
async function createUntilRefused(svc: TestService, max: number) {
  for (let n = 0; n < max; n++) {
    const reply = await create(svc, `filling ${n}`);
    if (reply.status !== 201) return { reply, created: n };
  }
  assert.fail(`${max} creates all succeeded on a full disk`);
}

async function readsAndRecovery(svc: TestService, filler: string, id: number) {
  // an update may still find room in a page the WAL already holds; if not, it is a 507 too
  const patch = await http(svc.url, 'PATCH', `/api/todos/${id}`, { body: { description: 'no room' } });
  if (patch.status !== 200) assertProblem(patch, 507, assert);
  assert.equal((await http(svc.url, 'GET', `/api/todos/${id}`)).status, 200);
  assert.equal((await http(svc.url, 'GET', '/api/todos?limit=5')).status, 200);

  unlinkSync(filler);
  assert.equal((await create(svc, 'after the space came back')).status, 201);
  assert.equal((await http(svc.url, 'PATCH', `/api/todos/${id}`, { body: { description: 'room again' } })).status, 200);
}

function checkIntegrity(dbPath: string) {
  const db = new Database(dbPath, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
}

test('SQLite, disk full: writes answer 507 problems, reads 200, writes work again once space is freed', { skip }, async () => {
  const disk = smallDisk(8 * 1024);
  const svc = await startService({}, disk.dir);
  try {
    const { id } = (await create(svc, 'kept')).body.todo;
    const filler = fill(disk.dir, 16 * 1024);
    const { reply } = await createUntilRefused(svc, 5000);
    assertProblem(reply, 507, assert);
    assert.equal((reply.body as unknown as { type: string }).type, 'urn:todo-service:problem:storage-full');
    assert.equal(reply.headers.get('retry-after'), '30');
    await readsAndRecovery(svc, filler, id);
    await svc.stop();
    checkIntegrity(svc.dbPath);
  } finally {
    await svc.stop().catch(() => undefined);
    disk.unmount();
  }
});

test('SQLite, disk full while a reader holds a snapshot: the WAL index cannot grow (SQLITE_IOERR_SHMSIZE), still a 507', { skip }, async () => {
  const disk = smallDisk(32 * 1024);
  const svc = await startService({}, disk.dir);
  const reader = new Database(svc.dbPath, { readonly: true });
  // mxFrame of the WAL index header, through a descriptor kept open: closing one of the -shm file would drop this
  // process's POSIX locks on it (the reader's and the service's)
  const shm = openSync(`${svc.dbPath}-shm`, 'r');
  const walFrames = () => {
    const header = Buffer.alloc(4);
    readSync(shm, header, 0, 4, 16);
    return header.readUInt32LE(0);
  };
  try {
    const { id } = (await create(svc, 'kept')).body.todo;
    // an online backup's read transaction: no checkpoint passes it, so the WAL only grows
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM todos').get();
    let n = 0;
    while (walFrames() < 4040) assert.equal((await create(svc, `growing ${n++}`)).status, 201);
    // room for the WAL to reach its 4,062nd frame and a few more, not for the index's next 32 KB region
    const walBytesAt = (frames: number) => 32 + frames * (4096 + 24);
    const filler = fill(disk.dir, Math.max(0, walBytesAt(4062) - statSync(`${svc.dbPath}-wal`).size) + 20 * 1024);
    const { reply } = await createUntilRefused(svc, 200);
    assertProblem(reply, 507, assert);
    const logged = svc.logs.find((l) => l.msg === 'storage full: writes fail until disk space is freed') as { err?: { message?: string } } | undefined;
    assert.match(logged?.err?.message ?? '', /disk I\/O error/, 'the refusal came from the WAL index (SQLITE_IOERR_SHMSIZE)');
    await readsAndRecovery(svc, filler, id);
    await svc.stop();
    checkIntegrity(svc.dbPath);
  } finally {
    if (reader.open) reader.close();
    closeSync(shm);
    await svc.stop().catch(() => undefined);
    disk.unmount();
  }
});
