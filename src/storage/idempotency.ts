// What both backends share about Idempotency-Key rows: how a repeat of a held key is answered.
import type { Claim, Todo } from '../todos/repository.js';

export type IdempotencyRow = { fingerprint: string; state: 'running' | 'done'; status: number | null; message: string | null; timestamp: string | null; todo: string | null };

/** A repeat gets the stored answer, "still running" (409), or "used for another request" (422). */
export function judgeClaim(row: IdempotencyRow | undefined, fingerprint: string): Claim {
  if (!row) return { running: true }; // taken and given back between the two statements: the caller may retry
  if (row.fingerprint !== fingerprint) return { mismatch: true };
  if (row.state === 'running') return { running: true };
  return { replay: { status: row.status!, message: row.message!, timestamp: row.timestamp!, todo: JSON.parse(row.todo!) as Todo } };
}
