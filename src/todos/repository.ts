// The storage contract for todos. Every backend (SQLite, PostgreSQL) implements this interface; handlers only
// ever see it. Plain objects in, plain objects out, timestamps as ISO-8601 strings.
//
// Every todo belongs to an owner (the caller's identity: src/auth/), and every method is scoped by it: another
// owner's todo is exactly as absent as a missing one. Ids stay global integers.
export interface Todo {
  id: number;
  title: string;
  description: string;
  completed: boolean;
  created_at: string;
  updated_at: string;
  /** Bumped by every update, in the same statement: what the ETag names (never in the JSON body). */
  version: number;
}

export interface NewTodo {
  title: string;
  description: string;
}

/** Fields left undefined keep their stored value. */
export interface TodoPatch {
  title?: string | undefined;
  description?: string | undefined;
  completed?: boolean | undefined;
}

export interface ListQuery {
  offset: number;
  limit: number;
  completed?: boolean | undefined;
}

export interface TodoPage {
  items: Todo[];
  /** Number of todos matching the filter, over all pages. */
  total: number;
}

/** What a write waits for and leaves behind, besides the todo itself. */
export interface WriteOptions {
  /** If-Match: write only when the todo's version is one of these, decided in the write's own statement. */
  ifVersion?: readonly number[] | undefined;
  /** Idempotency-Key: the response to keep for repeats, stored in the same transaction as the write. */
  receipt?: Receipt | undefined;
}

/** The answer an Idempotency-Key replays: status, message and timestamp of the envelope; the todo comes from the write. */
export interface Receipt {
  owner: string;
  key: string;
  status: number;
  message: string;
  timestamp: string;
}

/** An update or delete: done, no such todo (for this owner), or refused by If-Match (with the todo as it is). */
export type WriteResult = { todo: Todo } | { missing: true } | { stale: Todo };

export interface TodoRepository {
  list(owner: string, query: ListQuery): Promise<TodoPage>;
  get(owner: string, id: number): Promise<Todo | undefined>;
  create(owner: string, todo: NewTodo, options?: WriteOptions): Promise<Todo>;
  update(owner: string, id: number, patch: TodoPatch, options?: WriteOptions): Promise<WriteResult>;
  delete(owner: string, id: number, options?: WriteOptions): Promise<WriteResult>;
}

/** Idempotency keys: who holds one, and what to answer a repeat with. Keys are per owner, and expire. */
export interface IdempotencyStore {
  /**
   * Takes the key for a first request (or one whose earlier holder expired or gave up), or says what a repeat
   * gets: the stored answer, "still running" (409), or "used for another request" (422).
   */
  claim(owner: string, key: string, fingerprint: string, leaseMs: number, ttlMs: number): Promise<Claim>;
  /**
   * Gives a key back after a request that stored nothing (it failed): a repeat runs again. `lease` is the claim's:
   * only that holder's hold is given back, never one a later request took after the lease ran out.
   */
  release(owner: string, key: string, lease: number): Promise<void>;
  /** Deletes expired keys; returns how many. */
  purgeExpired(): Promise<number>;
}

export type Claim =
  | { claimed: true; lease: number }
  | { replay: { status: number; message: string; timestamp: string; todo: Todo } }
  | { running: true }
  | { mismatch: true };
