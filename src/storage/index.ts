// Opens the storage backend named by DATABASE_URL and brings its schema up to date (or checks that it is).
import type { Config } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import type { Storage } from './storage.js';

export type { Storage } from './storage.js';

/**
 * Opens the backend without touching its schema (the migrate command uses this). Each backend is loaded only
 * when it is the one configured: a SQLite replica never initializes the PostgreSQL driver, and vice versa.
 */
export async function connectStorage(database: Config['database'], logger: Logger): Promise<Storage> {
  if (database.kind === 'sqlite') return (await import('./sqlite/sqlite.js')).openSqlite(database);
  return (await import('./postgres/postgres.js')).openPostgres(database, logger);
}

/**
 * Opens the backend for serving: applies pending migrations when `migrateOnStart`, otherwise refuses to start
 * on an outdated schema.
 */
export async function openStorage(config: Pick<Config, 'database' | 'migrateOnStart'>, logger: Logger): Promise<Storage> {
  const storage = await connectStorage(config.database, logger);
  try {
    if (config.migrateOnStart) {
      const applied = await storage.migrate();
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    } else {
      const pending = (await storage.migrationStatus()).filter((m) => m.applied_at === null);
      if (pending.length > 0) {
        throw new Error(
          `${pending.length} migration(s) pending (${pending.map((m) => m.version).join(', ')}) and MIGRATE_ON_START=false: run \`npm run migrate\` first`,
        );
      }
    }
    return storage;
  } catch (error) {
    await storage.close();
    throw error;
  }
}
