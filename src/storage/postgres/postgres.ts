// The PostgreSQL backend, on node-postgres (pg) with a pool per replica. Hot statements are named, so each
// connection prepares them once. A lost database makes requests fail fast with StorageUnavailableError (503);
// the pool replaces broken connections by itself when the database is back.
import pg from 'pg';
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
import { judgeClaim, type IdempotencyRow } from '../idempotency.js';
import type { Logger } from '../../telemetry/logger.js';
import { StorageUnavailableError, assertKnownVersions } from '../errors.js';
import type { Migration, MigrationState, Storage } from '../storage.js';
import { migrations } from './migrations.js';

export interface PostgresOptions {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

// bigint (int8) ids and counts as JavaScript numbers: exact up to 2^53, far beyond any todo table.
const INT8_OID: number = pg.types.builtins.INT8;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Connects (retrying with backoff up to connectTimeoutMs, logging each attempt) and returns the backend. */
export async function openPostgres(options: PostgresOptions, logger: Logger): Promise<Storage> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    // A request never waits longer than the statement timeout: not for a connection, not for a query.
    connectionTimeoutMillis: options.statementTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 1000,
    idleTimeoutMillis: 30_000,
    application_name: 'todo-service',
    types,
  });
  // An idle connection that dies (database restart) emits here; the pool drops it and opens a new one later.
  pool.on('error', (error) => logger.warn({ err: error }, 'postgres: idle connection lost'));

  await connectWithRetry(pool, options.connectTimeoutMs, logger);

  let todos: TodoRepository | undefined;
  const idempotency = postgresIdempotencyStore(pool, logger);
  return {
    kind: 'postgres',
    get todos() {
      return (todos ??= postgresTodoRepository(pool));
    },
    apiKeys: postgresApiKeyStore(pool),
    idempotency,
    countTodos: async () => (await query<{ n: number }>(pool, { text: 'SELECT coalesce(sum(total), 0)::int8 AS n FROM todo_counts' })).rows[0]!.n,
    migrationStatus: () => withLockedClient(pool, (client) => migrationStatus(client, migrations)),
    migrate: () => withLockedClient(pool, (client) => migrate(client, migrations, logger)),
    ping: async () => {
      await query(pool, { text: 'SELECT 1' });
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => {
      idempotency.close();
      return pool.end();
    },
  };
}

async function connectWithRetry(pool: pg.Pool, budgetMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1, delay = 200; ; attempt++, delay = Math.min(delay * 2, 5000)) {
    try {
      await pool.query('SELECT 1');
      if (attempt > 1) logger.info({ attempt }, 'postgres: connected');
      return;
    } catch (error) {
      const wait = Math.min(delay, deadline - Date.now());
      if (wait <= 0) throw new Error(`postgres: not reachable after ${attempt} attempts in ${budgetMs} ms: ${(error as Error).message}`, { cause: error });
      logger.warn({ attempt, retry_in_ms: wait, err: (error as Error).message }, 'postgres: not reachable yet, retrying');
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

// Connection-level failures: the database is down, restarting, unreachable, overloaded, or too slow.
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3]|57014)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e.code && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i.test(e.message ?? '');
}

async function query<R extends pg.QueryResultRow>(pool: pg.Pool, config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(config);
  } catch (error) {
    if (isUnavailable(error)) throw new StorageUnavailableError('the database is unavailable', { cause: error });
    throw error;
  }
}

// ---- migrations ------------------------------------------------------------------------------------------

/** Runs fn on one connection holding this schema's migration lock, so replicas starting together take turns. */
function withLockedClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const lock = "hashtext('todo-service:migrations:' || current_schema())";
  return withClient(pool, async (client) => {
    await client.query(`SELECT pg_advisory_lock(${lock})`);
    try {
      return await fn(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${lock})`);
    }
  });
}

/**
 * Runs fn on a connection of its own from the pool. While a connection is checked out, the pool no longer listens
 * for its 'error' event, and an 'error' without a listener crashes the process: a connection the server drops
 * (PostgreSQL killed or restarted, a backend terminated) emits one even between queries. So it is listened for
 * here; the query in flight fails by itself, and the connection goes back to the pool marked broken, which
 * discards it. A connection whose ROLLBACK or unlock failed is discarded too: its session state is unknown.
 */
async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (error) {
    if (error instanceof StorageUnavailableError || isUnavailable(error)) broken ??= error as Error;
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

async function migrationStatus(client: pg.PoolClient, list: readonly Migration[]): Promise<MigrationState[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ version: number; applied_at: Date }>('SELECT version, applied_at FROM schema_migrations');
  const applied = new Map(rows.map((r) => [r.version, r.applied_at.toISOString()]));
  assertKnownVersions(applied.keys(), list);
  return list.map((m) => ({ version: m.version, name: m.name, applied_at: applied.get(m.version) ?? null }));
}

async function migrate(client: pg.PoolClient, list: readonly Migration[], logger: Logger): Promise<number[]> {
  const done: number[] = [];
  for (const state of (await migrationStatus(client, list)).filter((s) => s.applied_at === null)) {
    const { sql } = list.find((m) => m.version === state.version)!;
    await client.query('BEGIN');
    try {
      await client.query(sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [state.version, state.name]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    logger.info({ version: state.version, name: state.name }, 'migration applied');
    done.push(state.version);
  }
  return done;
}

// ---- todos -----------------------------------------------------------------------------------------------

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const COLUMNS = `id, title, description, completed,
  to_char(created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', ${ISO}) AS updated_at, version`;
const NOW = "date_trunc('milliseconds', now())";

type PageRow = { total: number; matching: number } & ({ id: number } & Omit<Todo, 'id'> | { id: null });

function toTodo(row: Todo): Todo {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    completed: row.completed,
    created_at: row.created_at,
    updated_at: row.updated_at,
    version: row.version,
  };
}

/** Runs `fn` on one connection inside BEGIN … COMMIT (ROLLBACK when it throws; a failed ROLLBACK discards it). */
async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    return await withClient(pool, (client) => transaction(client, fn));
  } catch (error) {
    throw isUnavailable(error) && !(error instanceof StorageUnavailableError) ? new StorageUnavailableError('the database is unavailable', { cause: error }) : error;
  }
}

async function transaction<T>(client: pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollback: unknown) => {
      throw new StorageUnavailableError('the database is unavailable', { cause: new AggregateError([error, rollback], 'the write failed and so did its ROLLBACK') });
    });
    throw error;
  }
}

function postgresTodoRepository(pool: pg.Pool): TodoRepository {
  // One round trip and one snapshot for a page and its totals: the owner's counts row joined with the page. No
  // counts row (an owner without todos) is an empty page.
  const page = (where: string) => `
    SELECT c.total, ${where ? 'CASE WHEN $4 THEN c.completed ELSE c.total - c.completed END' : 'c.total'} AS matching, t.*
    FROM todo_counts c
    LEFT JOIN LATERAL (SELECT ${COLUMNS} FROM todos WHERE owner = $1 ${where} ORDER BY id LIMIT $2 OFFSET $3) t ON true
    WHERE c.owner = $1`;
  const listAll = page('');
  const listByCompleted = page('AND completed = $4');

  return {
    list: async (owner, { offset, limit, completed }: ListQuery): Promise<TodoPage> => {
      const { rows } =
        completed === undefined
          ? await query<PageRow>(pool, { name: 'todos_list', text: listAll, values: [owner, limit, offset] })
          : await query<PageRow>(pool, { name: 'todos_list_completed', text: listByCompleted, values: [owner, limit, offset, completed] });
      const items = rows.flatMap((r) => (r.id === null ? [] : [toTodo(r as unknown as Todo)]));
      return { items, total: rows[0]?.matching ?? 0 };
    },
    get: async (owner, id) => {
      const { rows } = await query<Todo>(pool, { name: 'todos_get', text: `SELECT ${COLUMNS} FROM todos WHERE id = $1 AND owner = $2`, values: [id, owner] });
      return rows[0] && toTodo(rows[0]);
    },
    create: (owner, { title, description }: NewTodo, options: WriteOptions = {}) =>
      write(options.receipt, async (db) => {
        const { rows } = await db.query<Todo>({
          name: 'todos_create',
          text: `INSERT INTO todos (owner, title, description, created_at, updated_at) VALUES ($1, $2, $3, ${NOW}, ${NOW}) RETURNING ${COLUMNS}`,
          values: [owner, title, description],
        });
        return toTodo(rows[0]!);
      }),
    update: (owner, id, patch: TodoPatch, options: WriteOptions = {}) =>
      writeOne(owner, id, options, (db) =>
        db.query<Todo>({
          name: 'todos_update',
          text: `UPDATE todos SET title = coalesce($3, title), description = coalesce($4, description),
                   completed = coalesce($5, completed), updated_at = ${NOW}, version = version + 1
                 WHERE id = $1 AND owner = $2 AND ${matchesVersion('$6')} RETURNING ${COLUMNS}`,
          values: [id, owner, patch.title ?? null, patch.description ?? null, patch.completed ?? null, options.ifVersion ?? null],
        }),
      ),
    delete: (owner, id, options: WriteOptions = {}) =>
      writeOne(owner, id, options, (db) =>
        db.query<Todo>({
          name: 'todos_delete',
          text: `DELETE FROM todos WHERE id = $1 AND owner = $2 AND ${matchesVersion('$3')} RETURNING ${COLUMNS}`,
          values: [id, owner, options.ifVersion ?? null],
        }),
      ),
  };

  /**
   * A write on the pool; with an Idempotency-Key receipt, the write and the stored answer in one transaction on
   * one connection, so that either both are there or neither.
   */
  async function write<T extends Todo | WriteResult>(receipt: Receipt | undefined, run: (db: Queryable) => Promise<T>): Promise<T> {
    if (!receipt) {
      try {
        return await run(pool);
      } catch (error) {
        throw isUnavailable(error) ? new StorageUnavailableError('the database is unavailable', { cause: error }) : error;
      }
    }
    return inTransaction(pool, async (client) => {
      const result = await run(client);
      const todo = 'id' in result ? result : 'todo' in result ? result.todo : undefined;
      if (todo) {
        await client.query({
          name: 'idempotency_store',
          text: "UPDATE idempotency_keys SET state = 'done', status = $3, message = $4, timestamp = $5, todo = $6 WHERE owner = $1 AND key = $2",
          values: [receipt.owner, receipt.key, receipt.status, receipt.message, receipt.timestamp, JSON.stringify(todo)],
        });
      }
      return result;
    });
  }

  /** An update or delete of one todo: done, or (no row) missing or refused by If-Match — told apart by a read. */
  function writeOne(owner: string, id: number, options: WriteOptions, statement: (db: Queryable) => Promise<pg.QueryResult<Todo>>): Promise<WriteResult> {
    return write(options.receipt, async (db): Promise<WriteResult> => {
      const { rows } = await statement(db);
      if (rows[0]) return { todo: toTodo(rows[0]) };
      const current = await db.query<Todo>({ name: 'todos_get', text: `SELECT ${COLUMNS} FROM todos WHERE id = $1 AND owner = $2`, values: [id, owner] });
      return current.rows[0] ? { stale: toTodo(current.rows[0]) } : { missing: true };
    });
  }
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** If-Match: the row's version is one of the parameter's (null: no condition). */
const matchesVersion = (param: string) => `(${param}::int[] IS NULL OR version = ANY(${param}::int[]))`;

/**
 * Idempotency keys. A failed write gives its key back (release), but the failure that failed it — the database
 * going away — usually fails the release too: the key would then stay "running" until its lease ran out (the
 * request timeout, 30 s), and every retry of the client get a 409 long after the database is back. So a release
 * that finds the database unavailable is tried again in the background (backoff up to 1 s) until it gets through,
 * or the lease ends (then a repeat takes the key over by itself), or the storage is closed. The same for a claim
 * that failed unanswered: its INSERT may have been committed. A release names the claim's lease, so it never gives
 * back a hold that a later request took.
 */
const MAX_PENDING_RELEASES = 10_000;
const FIRST_RETRY_MS = 100;

/**
 * A failure to get a connection at all, so no statement was sent: refused, unresolvable or unreachable, the server
 * starting up or shutting down (57P03), too many connections (53300), or no connection within the timeout.
 */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', '57P03', '53300', '08001', '08004']);
function neverSent(error: StorageUnavailableError): boolean {
  const cause = error.cause as { code?: string; message?: string } | undefined;
  return CONNECT_FAILURES.has(cause?.code ?? '') || /timeout exceeded when trying to connect/i.test(cause?.message ?? '');
}

function postgresIdempotencyStore(pool: pg.Pool, logger: Logger): IdempotencyStore & { close(): void } {
  const retries = new Set<NodeJS.Timeout>();
  let closed = false;

  const releaseOnce = async (owner: string, key: string, lease: number) => {
    await query(pool, {
      name: 'idempotency_release',
      text: "DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2 AND state = 'running' AND lease_until = $3",
      values: [owner, key, lease],
    });
  };

  const releaseLater = (owner: string, key: string, lease: number, delay = FIRST_RETRY_MS) => {
    if (closed) return;
    if (retries.size >= MAX_PENDING_RELEASES) {
      logger.warn({ idempotency_key: key }, 'idempotency key: too many waiting to be given back; this one waits for its lease to end');
      return;
    }
    if (Date.now() + delay >= lease) {
      logger.warn({ idempotency_key: key }, 'idempotency key: could not be given back before its lease ran out');
      return;
    }
    if (delay === FIRST_RETRY_MS) logger.warn({ idempotency_key: key }, 'idempotency key: the database is unavailable; giving it back in the background');
    const timer = setTimeout(() => {
      retries.delete(timer);
      releaseOnce(owner, key, lease).then(
        () => logger.info({ idempotency_key: key }, 'idempotency key: given back once the database answered again'),
        (error: unknown) => {
          if (error instanceof StorageUnavailableError) releaseLater(owner, key, lease, Math.min(delay * 2, 1000));
          else if (!closed) logger.warn({ err: error, idempotency_key: key }, 'idempotency key: could not be given back');
        },
      );
    }, delay);
    timer.unref();
    retries.add(timer);
  };

  return {
    async claim(owner, key, fingerprint, leaseMs, ttlMs) {
      const now = Date.now();
      const lease = now + leaseMs;
      // A new key, or one that expired, or one whose first holder gave up (its lease ran out) on the same request.
      let taken: pg.QueryResult;
      try {
        taken = await query(pool, {
          name: 'idempotency_claim',
          text: `INSERT INTO idempotency_keys (owner, key, fingerprint, state, lease_until, expires_at) VALUES ($1, $2, $3, 'running', $4, $5)
                 ON CONFLICT (owner, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'running', lease_until = excluded.lease_until,
                   expires_at = excluded.expires_at, status = NULL, message = NULL, timestamp = NULL, todo = NULL
                 WHERE idempotency_keys.expires_at <= $6
                    OR (idempotency_keys.state = 'running' AND idempotency_keys.lease_until <= $6 AND idempotency_keys.fingerprint = excluded.fingerprint)`,
          values: [owner, key, fingerprint, lease, now + ttlMs, now],
        });
      } catch (error) {
        // unanswered: the INSERT may have been committed (not when no connection was had: it was never sent)
        if (error instanceof StorageUnavailableError && !neverSent(error)) releaseLater(owner, key, lease);
        throw error;
      }
      if (taken.rowCount === 1) return { claimed: true, lease };
      const { rows } = await query<IdempotencyRow>(pool, {
        name: 'idempotency_read',
        text: 'SELECT fingerprint, state, status, message, timestamp, todo FROM idempotency_keys WHERE owner = $1 AND key = $2',
        values: [owner, key],
      });
      return judgeClaim(rows[0], fingerprint);
    },
    async release(owner, key, lease) {
      try {
        await releaseOnce(owner, key, lease);
      } catch (error) {
        if (error instanceof StorageUnavailableError) releaseLater(owner, key, lease);
        throw error;
      }
    },
    async purgeExpired() {
      return (await query(pool, { text: 'DELETE FROM idempotency_keys WHERE expires_at <= $1', values: [Date.now()] })).rowCount ?? 0;
    },
    close() {
      closed = true;
      for (const timer of retries) clearTimeout(timer);
      retries.clear();
    },
  };
}

type ApiKeyRow = { id: string; owner: string; scopes: string; name: string; secret_sha256: Buffer; created_at: string; revoked_at: string | null };

const API_KEY_COLUMNS = `id, owner, scopes, name, secret_sha256,
  to_char(created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at,
  to_char(revoked_at AT TIME ZONE 'UTC', ${ISO}) AS revoked_at`;

const toApiKey = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  owner: row.owner,
  scopes: row.scopes.split(' ').filter(Boolean),
  name: row.name,
  secretSha256: row.secret_sha256,
  created_at: row.created_at,
  revoked_at: row.revoked_at,
});

function postgresApiKeyStore(pool: pg.Pool): ApiKeyStore {
  return {
    insert: async (key) => {
      await query(pool, {
        text: 'INSERT INTO api_keys (id, owner, scopes, name, secret_sha256) VALUES ($1, $2, $3, $4, $5)',
        values: [key.id, key.owner, key.scopes.join(' '), key.name, key.secretSha256],
      });
    },
    find: async (id) => {
      const { rows } = await query<ApiKeyRow>(pool, { name: 'api_keys_find', text: `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = $1`, values: [id] });
      return rows[0] && toApiKey(rows[0]);
    },
    list: async () => (await query<ApiKeyRow>(pool, { text: `SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id` })).rows.map(toApiKey),
    revoke: async (id) =>
      (await query(pool, { text: 'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', values: [id] })).rowCount === 1,
  };
}
