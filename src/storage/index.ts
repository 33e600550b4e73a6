// Picks the storage backend from the configured DATABASE_URL.
import type { Config } from '../config.js';
import { openSqlite } from './sqlite/sqlite.js';
import type { Storage } from './storage.js';

export type { Storage } from './storage.js';

export async function openStorage(database: Config['database']): Promise<Storage> {
  return openSqlite(database);
}
