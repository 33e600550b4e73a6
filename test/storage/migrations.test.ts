// Upgrading a database made before owners existed (schema version 1): its todos become the shared list of
// AUTH_MODE=none, ids and counts intact, and new owners start from nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { migrations as pgMigrations } from '../../src/storage/postgres/migrations.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations.js';
import { freshSchema, http, postgres, startService, tempDir } from '../support/helpers.js';
import { startIssuer } from '../support/issuer.js';

type Page = { todos: { id: number; title: string; completed: boolean }[]; pagination: { total_items: number } };

async function checkUpgraded(base: string): Promise<void> {
  const page = await http<Page>(base, 'GET', '/api/todos?limit=100');
  assert.deepEqual(page.body.todos.map((t) => [t.id, t.title, t.completed]), [[1, 'old one', false], [2, 'old two', true], [3, 'old three', false]]);
  assert.equal(page.body.pagination.total_items, 3);
  assert.equal((await http<Page>(base, 'GET', '/api/todos?completed=true')).body.pagination.total_items, 1);
  const next = await http<{ todo: { id: number } }>(base, 'POST', '/api/todos', { body: { title: 'new' } });
  assert.equal(next.body.todo.id, 4, 'ids go on from where they were');
}

test('SQLite: a version-1 database is upgraded in place; its todos are the shared list', async () => {
  const dir = tempDir();
  const path = join(dir, 'todos.db');
  const db = new Database(path);
  db.exec(sqliteMigrations[0]!.sql);
  db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL); INSERT INTO schema_migrations VALUES (1, 'create_todos', '2026-11-01T00:00:00.000Z')");
  const insert = db.prepare("INSERT INTO todos (title, description, completed, created_at, updated_at) VALUES (?, '', ?, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
  insert.run('old one', 0);
  insert.run('old two', 1);
  insert.run('old three', 0);
  db.close();

  const svc = await startService({}, dir);
  try {
    await checkUpgraded(svc.url);
  } finally {
    await svc.stop();
  }
  // Another owner (jwt mode on the same file) starts with an empty list.
  const issuer = await startIssuer();
  const owned = await startService(issuer.env(), dir);
  try {
    const r = await http<Page>(owned.url, 'GET', '/api/todos', { headers: { authorization: `Bearer ${await issuer.token({ sub: 'newcomer' })}` } });
    assert.equal(r.body.pagination.total_items, 0);
  } finally {
    await owned.dispose();
    await issuer.stop();
  }
});

test('PostgreSQL: a version-1 schema is upgraded in place; its todos are the shared list', { skip: postgres.skip }, async () => {
  const schema = await freshSchema();
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    await client.query(pgMigrations[0]!.sql);
    await client.query("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_migrations (version, name) VALUES (1, 'create_todos')");
    for (const [title, completed] of [['old one', false], ['old two', true], ['old three', false]] as const) {
      await client.query('INSERT INTO todos (title, completed, created_at, updated_at) VALUES ($1, $2, now(), now())', [title, completed]);
    }
  } finally {
    await client.end();
  }
  const svc = await startService({ DATABASE_URL: schema.url });
  try {
    await checkUpgraded(svc.url);
  } finally {
    await svc.dispose();
    await schema.drop();
  }
});
