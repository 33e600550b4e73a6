// Wraps a TodoRepository so that every database operation is timed (db_query_duration_seconds) and, in a
// sampled request, runs in its own client span under the request's span.
import type { TodoRepository } from '../todos/repository.js';
import type { Metrics } from './metrics.js';
import type { TraceContext, Tracing } from './tracing.js';

export function instrumentTodos(repo: TodoRepository, system: string, metrics: Metrics, tracing: Tracing | undefined): TodoRepository {
  const dbSystem = system === 'postgres' ? 'postgresql' : system;
  const timed = async <R>(operation: keyof TodoRepository, trace: TraceContext | undefined, call: () => Promise<R>): Promise<R> => {
    const started = performance.now();
    let failed = false;
    try {
      if (!tracing || !trace) return await call();
      return await tracing.inSpan(
        trace,
        `${operation} todos`,
        {
          kind: tracing.api.SpanKind.CLIENT,
          attributes: { 'db.system.name': dbSystem, 'db.operation.name': operation, 'db.collection.name': 'todos' },
        },
        call,
      );
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      metrics.observeQuery(operation, (performance.now() - started) / 1000, failed);
    }
  };

  return {
    list: (query, trace) => timed('list', trace, () => repo.list(query)),
    get: (id, trace) => timed('get', trace, () => repo.get(id)),
    create: (todo, trace) => timed('create', trace, () => repo.create(todo)),
    update: (id, patch, trace) => timed('update', trace, () => repo.update(id, patch)),
    delete: (id, trace) => timed('delete', trace, () => repo.delete(id)),
  };
}
