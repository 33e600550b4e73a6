// Wraps a TodoRepository so that every database operation is timed (db_query_duration_seconds) and, in a
// sampled request, recorded as a client span under the request's span.
import type { Attributes } from '@opentelemetry/api';
import type { TodoRepository } from '../todos/repository.js';
import type { Metrics } from './metrics.js';
import type { TraceContext, Tracing } from './tracing.js';

type Operation = keyof TodoRepository;
const OPERATIONS: readonly Operation[] = ['list', 'get', 'create', 'update', 'delete'];

export function instrumentTodos(repo: TodoRepository, system: string, metrics: Metrics, tracing: Tracing | undefined): TodoRepository {
  const dbSystem = system === 'postgres' ? 'postgresql' : system;
  // Each operation's span name and attributes, built once: spans only read them.
  const spans = Object.fromEntries(
    OPERATIONS.map((operation) => {
      const attributes: Attributes = Object.freeze({ 'db.system.name': dbSystem, 'db.operation.name': operation, 'db.collection.name': 'todos' });
      return [operation, { name: `${operation} todos`, attributes }];
    }),
  ) as Record<Operation, { name: string; attributes: Attributes }>;

  const timed = async <R>(operation: Operation, trace: TraceContext | undefined, call: () => Promise<R>): Promise<R> => {
    const started = performance.now();
    const span = trace && tracing?.startSpan(trace, spans[operation].name, tracing.api.SpanKind.CLIENT, spans[operation].attributes);
    let failed = false;
    try {
      return await call();
    } catch (error) {
      failed = true;
      span?.fail(error);
      throw error;
    } finally {
      span?.end();
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
