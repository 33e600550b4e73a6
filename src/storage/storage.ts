// What a storage backend hands to the rest of the service: the repositories, schema migrations, a health
// check, and close(). SQLite and PostgreSQL both implement it.
import type { ApiKeyStore } from '../auth/api-key-store.js';
import type { IdempotencyStore, TodoRepository } from '../todos/repository.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface MigrationState {
  version: number;
  name: string;
  /** ISO time it was applied, or null while pending. */
  applied_at: string | null;
}

export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  readonly todos: TodoRepository;
  readonly apiKeys: ApiKeyStore;
  readonly idempotency: IdempotencyStore;
  /** Todos stored, over all owners (the todos_stored metric). */
  countTodos(): Promise<number>;
  /** Every known migration with its state; throws when the database has versions this build does not know. */
  migrationStatus(): Promise<MigrationState[]>;
  /** Applies pending migrations in order, each in its own transaction; returns the versions applied. */
  migrate(): Promise<number[]>;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  /** Connection pool state, for backends that have a pool. */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}
