// What a storage backend hands to the rest of the service: the repositories, a health check, and close().
import type { TodoRepository } from '../todos/repository.js';

export interface Storage {
  readonly kind: string;
  readonly todos: TodoRepository;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
