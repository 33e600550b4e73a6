// Wraps a TodoRepository so that every database operation is timed (db_query_duration_seconds) and, with
// tracing on, recorded as a client span under the active span (the request's, through the context manager).
import type { Attributes } from '@opentelemetry/api';
import type { TodoRepository } from '../todos/repository.js';
import type { Metrics } from './metrics.js';
import type { Tracing } from './tracing.js';

type Operation = keyof TodoRepository;

export function instrumentTodos(repo: TodoRepository, system: string, metrics: Metrics, tracing: Tracing | undefined): TodoRepository {
  const dbSystem = system === 'postgres' ? 'postgresql' : system;

  const timed = async <R>(operation: Operation, call: () => Promise<R>): Promise<R> => {
    const started = performance.now();
    let failed = false;
    try {
      if (!tracing) return await call();
      const attributes: Attributes = { 'db.system.name': dbSystem, 'db.operation.name': operation, 'db.collection.name': 'todos' };
      return await tracing.clientSpan(`${operation} todos`, attributes, call);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      metrics.observeQuery(operation, (performance.now() - started) / 1000, failed);
    }
  };

  return {
    list: (owner, query) => timed('list', () => repo.list(owner, query)),
    get: (owner, id) => timed('get', () => repo.get(owner, id)),
    create: (owner, todo, options) => timed('create', () => repo.create(owner, todo, options)),
    update: (owner, id, patch, options) => timed('update', () => repo.update(owner, id, patch, options)),
    delete: (owner, id, options) => timed('delete', () => repo.delete(owner, id, options)),
  };
}
