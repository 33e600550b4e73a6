// Storage failures that are not the request's fault and not a bug: the database is unreachable, overloaded or
// too slow. The HTTP layer answers them with 503 and Retry-After, so clients and load balancers retry.
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** The database's disk is full: writes fail until space is freed, reads go on. A 507 with Retry-After. */
export class StorageFullError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageFullError';
  }
}

/** Throws when the database has migrations this build does not know: running on it could corrupt data. */
export function assertKnownVersions(applied: Iterable<number>, known: readonly { version: number }[]): void {
  const newest = Math.max(0, ...known.map((m) => m.version));
  const unknown = [...applied].filter((v) => v > newest);
  if (unknown.length > 0) {
    throw new Error(`database schema is newer than this build (versions ${unknown.join(', ')}); refusing to start`);
  }
}
