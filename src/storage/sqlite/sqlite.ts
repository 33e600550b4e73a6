// The SQLite backend: one better-sqlite3 connection, WAL mode, every statement prepared once at start.
// better-sqlite3 is synchronous; a point query takes microseconds, far less than a thread hop would cost.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { isoNow } from '../../clock.js';
import type { ApiKeyRecord, ApiKeyStore } from '../../auth/api-key-store.js';
import type {
  IdempotencyStore,
  ListQuery,
  NewTodo,
  Receipt,
  Todo,
  TodoPage,
  TodoPatch,
  TodoRepository,
  WriteOptions,
  WriteResult,
} from '../../todos/repository.js';
import { StorageFullError, StorageUnavailableError, assertKnownVersions } from '../errors.js';
import type { Migration, MigrationState, Storage } from '../storage.js';
import { judgeClaim, type IdempotencyRow } from '../idempotency.js';
import { migrations } from './migrations.js';

export interface SqliteOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
}

/**
 * A todo row as better-sqlite3 returns it in raw mode: an array in COLUMNS order. Raw rows skip building an
 * object property by property in C++ (then copied into a Todo anyway); measured ~25 % faster per row read.
 */
type TodoRow = [id: number, title: string, description: string, completed: 0 | 1, created_at: string, updated_at: string, version: number];

const COLUMNS = 'id, title, description, completed, created_at, updated_at, version';

/** Opens (creating if needed) the database file. Migrations are applied by the caller (`migrate()`). */
export function openSqlite({ path, synchronous }: SqliteOptions): Storage {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');

  // Repositories prepare their statements against the schema, so they are built on first use, after migrate().
  let todos: TodoRepository | undefined;
  let apiKeys: ApiKeyStore | undefined;
  let idempotency: IdempotencyStore | undefined;
  return {
    kind: 'sqlite',
    get todos() {
      return (todos ??= sqliteTodoRepository(db));
    },
    get apiKeys() {
      return (apiKeys ??= sqliteApiKeyStore(db));
    },
    get idempotency() {
      return (idempotency ??= sqliteIdempotencyStore(db));
    },
    countTodos: async () => (db.prepare('SELECT coalesce(sum(total), 0) AS n FROM todo_counts').get() as { n: number }).n,
    migrationStatus: async () => migrationStatus(db, migrations),
    migrate: async () => migrate(db, migrations),
    ping: async () => {
      db.prepare('SELECT 1').get();
    },
    close: async () => {
      if (db.open) db.close();
    },
  };
}

function ensureMigrationTable(db: Database.Database): Map<number, string> {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const rows = db.prepare('SELECT version, applied_at FROM schema_migrations').all() as { version: number; applied_at: string }[];
  return new Map(rows.map((r) => [r.version, r.applied_at]));
}

function migrationStatus(db: Database.Database, list: readonly Migration[]): MigrationState[] {
  const applied = ensureMigrationTable(db);
  assertKnownVersions(applied.keys(), list);
  return list.map((m) => ({ version: m.version, name: m.name, applied_at: applied.get(m.version) ?? null }));
}

/** Applies pending migrations in order, each with its version row in one transaction. */
function migrate(db: Database.Database, list: readonly Migration[]): number[] {
  const pending = migrationStatus(db, list).filter((s) => s.applied_at === null);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const m of pending) {
    const { sql } = list.find((x) => x.version === m.version)!;
    db.transaction(() => {
      db.exec(sql);
      record.run(m.version, m.name, new Date().toISOString());
    }).immediate();
    done.push(m.version);
  }
  return done;
}

/** SQLITE_BUSY after busy_timeout: another process holds the write lock. Retrying later will work. */
function unavailable<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw storageError(error);
  }
}

/**
 * The codes of a write that found no room: the WAL or the database file could not grow (SQLITE_FULL on ENOSPC,
 * SQLITE_IOERR_WRITE on a short write or a quota), or the WAL's index could not (SQLITE_IOERR_SHMSIZE: the -shm
 * file grows by 32 KB every 4,062 WAL frames, which happens when a reader's snapshot holds checkpoints back).
 */
const FULL_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_SHMSIZE']);

/** SQLite's errors that are not the request's fault: busy (503) or a full disk (507). Others stay as they are. */
function storageError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return new StorageUnavailableError('the database is busy', { cause: error });
  if (code !== undefined && FULL_CODES.has(code)) return new StorageFullError('the database disk is full', { cause: error });
  return error;
}

/**
 * Group commit: writes that arrive in the same turn of the event loop are run in ONE transaction, started on
 * the next turn, and each is answered only after that transaction committed. A commit writes every page it
 * touched to the WAL, so N inserts in one transaction cost one set of page writes instead of N. A failing
 * statement fails only its own request (SQLite rolls back just that statement); a failing commit fails all.
 */
export function writeBatcher(db: Database.Database): <T>(write: () => T) => Promise<T> {
  type Pending = { write: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void };
  let queue: Pending[] = [];
  const runAll = db.transaction((batch: Pending[]) => batch.map((op) => {
    try {
      return { ok: true as const, value: op.write() };
    } catch (error) {
      return { ok: false as const, error: storageError(error) };
    }
  }));
  const flush = () => {
    const batch = queue;
    queue = [];
    let results;
    try {
      results = unavailable(() => runAll.immediate(batch));
    } catch (error) {
      for (const op of batch) op.reject(error);
      return;
    }
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (r.ok) op.resolve(r.value);
      else op.reject(r.error);
    });
  };
  return <T>(write: () => T) =>
    new Promise<T>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
    });
}

function toTodo(row: TodoRow): Todo {
  return { id: row[0], title: row[1], description: row[2], completed: row[3] === 1, created_at: row[4], updated_at: row[5], version: row[6] };
}

/** If-Match versions as the JSON array the statements read with json_each (null: no condition). */
const versionsParam = (ifVersion: readonly number[] | undefined) => (ifVersion === undefined ? null : JSON.stringify(ifVersion));
const MATCHES_VERSION = '(@versions IS NULL OR version IN (SELECT value FROM json_each(@versions)))';

function sqliteTodoRepository(db: Database.Database): TodoRepository {
  const listAll = db.prepare<[string, number, number], TodoRow>(`SELECT ${COLUMNS} FROM todos WHERE owner = ? ORDER BY id LIMIT ? OFFSET ?`).raw();
  const listByCompleted = db
    .prepare<[string, number, number, number], TodoRow>(`SELECT ${COLUMNS} FROM todos WHERE owner = ? AND completed = ? ORDER BY id LIMIT ? OFFSET ?`)
    .raw();
  const counts = db.prepare<[string], { total: number; completed: number }>('SELECT total, completed FROM todo_counts WHERE owner = ?');
  const getById = db.prepare<[number, string], TodoRow>(`SELECT ${COLUMNS} FROM todos WHERE id = ? AND owner = ?`).raw();
  const insert = db
    .prepare<[string, string, string, string, string], TodoRow>(
      `INSERT INTO todos (owner, title, description, completed, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) RETURNING ${COLUMNS}`,
    )
    .raw();
  // Named parameters: @versions (the If-Match versions) is read twice by MATCHES_VERSION.
  const update = db.prepare<[Record<string, unknown>], TodoRow>(
    `UPDATE todos SET title = coalesce(@title, title), description = coalesce(@description, description),
       completed = coalesce(@completed, completed), updated_at = @now, version = version + 1
     WHERE id = @id AND owner = @owner AND ${MATCHES_VERSION} RETURNING ${COLUMNS}`,
  ).raw();
  const remove = db.prepare<[Record<string, unknown>], TodoRow>(`DELETE FROM todos WHERE id = @id AND owner = @owner AND ${MATCHES_VERSION} RETURNING ${COLUMNS}`).raw();
  const storeReceipt = db.prepare<[number, string, string, string, string, string]>(
    "UPDATE idempotency_keys SET state = 'done', status = ?, message = ?, timestamp = ?, todo = ? WHERE owner = ? AND key = ?",
  );

  // The page and its total are read in one transaction, so they agree even while another process writes.
  const readPage = db.transaction((owner: string, { offset, limit, completed }: ListQuery): TodoPage => {
    const c = counts.get(owner) ?? { total: 0, completed: 0 };
    if (completed === undefined) {
      return { items: listAll.all(owner, limit, offset).map(toTodo), total: c.total };
    }
    return {
      items: listByCompleted.all(owner, completed ? 1 : 0, limit, offset).map(toTodo),
      total: completed ? c.completed : c.total - c.completed,
    };
  });

  const write = writeBatcher(db);
  /** Inside the write's transaction: the receipt of an Idempotency-Key, with the todo it answers with. */
  const receiptOf = (todo: Todo, receipt: Receipt | undefined) => {
    if (receipt) storeReceipt.run(receipt.status, receipt.message, receipt.timestamp, JSON.stringify(todo), receipt.owner, receipt.key);
  };
  /** A write that found no row: no such todo for this owner, or one whose version If-Match did not name. */
  const missed = (owner: string, id: number): WriteResult => {
    const current = getById.get(id, owner);
    return current ? { stale: toTodo(current) } : { missing: true };
  };

  return {
    list: async (owner, query) => unavailable(() => readPage(owner, query)),
    get: async (owner, id) => {
      const row = getById.get(id, owner);
      return row && toTodo(row);
    },
    create: (owner, { title, description }: NewTodo, options: WriteOptions = {}) =>
      write(() => {
        const now = isoNow();
        const todo = toTodo(insert.get(owner, title, description, now, now)!);
        receiptOf(todo, options.receipt);
        return todo;
      }),
    update: (owner, id, patch: TodoPatch, options: WriteOptions = {}) =>
      write((): WriteResult => {
        const completed = patch.completed === undefined ? null : patch.completed ? 1 : 0;
        const row = update.get({ title: patch.title ?? null, description: patch.description ?? null, completed, now: isoNow(), id, owner, versions: versionsParam(options.ifVersion) });
        if (!row) return missed(owner, id);
        const todo = toTodo(row);
        receiptOf(todo, options.receipt);
        return { todo };
      }),
    delete: (owner, id, options: WriteOptions = {}) =>
      write((): WriteResult => {
        const row = remove.get({ id, owner, versions: versionsParam(options.ifVersion) });
        if (!row) return missed(owner, id);
        const todo = toTodo(row);
        receiptOf(todo, options.receipt);
        return { todo };
      }),
  };
}

function sqliteIdempotencyStore(db: Database.Database): IdempotencyStore {
  // A new key, or one that expired, or one whose first holder gave up (its lease ran out) on the same request.
  const take = db.prepare<[Record<string, unknown>]>(
    `INSERT INTO idempotency_keys (owner, key, fingerprint, state, lease_until, expires_at) VALUES (@owner, @key, @fingerprint, 'running', @lease, @expires)
     ON CONFLICT (owner, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'running', lease_until = excluded.lease_until,
       expires_at = excluded.expires_at, status = NULL, message = NULL, timestamp = NULL, todo = NULL
     WHERE idempotency_keys.expires_at <= @now
        OR (idempotency_keys.state = 'running' AND idempotency_keys.lease_until <= @now AND idempotency_keys.fingerprint = excluded.fingerprint)`,
  );
  const read = db.prepare<[string, string], IdempotencyRow>('SELECT fingerprint, state, status, message, timestamp, todo FROM idempotency_keys WHERE owner = ? AND key = ?');
  const release = db.prepare("DELETE FROM idempotency_keys WHERE owner = ? AND key = ? AND state = 'running' AND lease_until = ?");
  const purge = db.prepare('DELETE FROM idempotency_keys WHERE expires_at <= ?');
  return {
    claim: async (owner, key, fingerprint, leaseMs, ttlMs) => {
      const now = Date.now();
      const lease = now + leaseMs;
      if (unavailable(() => take.run({ owner, key, fingerprint, lease, expires: now + ttlMs, now })).changes === 1) return { claimed: true, lease };
      return judgeClaim(unavailable(() => read.get(owner, key)), fingerprint);
    },
    release: async (owner, key, lease) => void unavailable(() => release.run(owner, key, lease)),
    purgeExpired: async () => unavailable(() => purge.run(Date.now())).changes,
  };
}


type ApiKeyRow = { id: string; owner: string; scopes: string; name: string; secret_sha256: Buffer; created_at: string; revoked_at: string | null };

const toApiKey = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  owner: row.owner,
  scopes: row.scopes.split(' ').filter(Boolean),
  name: row.name,
  secretSha256: row.secret_sha256,
  created_at: row.created_at,
  revoked_at: row.revoked_at,
});

function sqliteApiKeyStore(db: Database.Database): ApiKeyStore {
  const insert = db.prepare('INSERT INTO api_keys (id, owner, scopes, name, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const find = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?');
  const list = db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id');
  const revoke = db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  return {
    insert: async (key) => void unavailable(() => insert.run(key.id, key.owner, key.scopes.join(' '), key.name, key.secretSha256, isoNow())),
    find: async (id) => {
      const row = unavailable(() => find.get(id));
      return row && toApiKey(row);
    },
    list: async () => unavailable(() => list.all()).map(toApiKey),
    revoke: async (id) => unavailable(() => revoke.run(isoNow(), id)).changes === 1,
  };
}
