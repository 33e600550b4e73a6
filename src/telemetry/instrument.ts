// Wraps a TodoRepository so that every database operation is timed (db_query_duration_seconds) and, when
// tracing is on, runs in its own client span under the request's span.
import type { TodoRepository } from '../todos/repository.js';
import type { Metrics } from './metrics.js';
import type { Tracing } from './tracing.js';

export function instrumentTodos(repo: TodoRepository, system: string, metrics: Metrics, tracing: Tracing | undefined): TodoRepository {
  const dbSystem = system === 'postgres' ? 'postgresql' : system;
  const timed =
    <A extends unknown[], R>(operation: keyof TodoRepository, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      let failed = false;
      try {
        if (!tracing) return await call(...args);
        return await tracing.inSpan(
          `${operation} todos`,
          {
            kind: tracing.api.SpanKind.CLIENT,
            attributes: { 'db.system.name': dbSystem, 'db.operation.name': operation, 'db.collection.name': 'todos' },
          },
          () => call(...args),
        );
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        metrics.observeQuery(operation, (performance.now() - started) / 1000, failed);
      }
    };

  return {
    list: timed('list', (q) => repo.list(q)),
    get: timed('get', (id) => repo.get(id)),
    create: timed('create', (t) => repo.create(t)),
    update: timed('update', (id, patch) => repo.update(id, patch)),
    delete: timed('delete', (id) => repo.delete(id)),
  };
}
