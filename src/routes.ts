// Every route of the service, in one list: method, path, schema (the contract) and handler (the behaviour).
// Read this file to know the whole API surface. Cross-cutting behaviour lives in src/app.ts.
import { READ_SCOPE, WRITE_SCOPE } from './auth/identity.js';
import type { App, AppDeps } from './deps.js';
import { addDocsPage } from './http/docs.js';
import { problemResponses } from './http/problem.js';
import { UNLIMITED } from './http/protection.js';
import { LivezRoute, MetricsRoute, ReadyzRoute, RuntimeRoute, probeHandlers } from './ops/probes.js';
import { systemHandlers } from './ops/handlers.js';
import { HealthRoute, InfoRoute } from './ops/schemas.js';
import { todoHandlers, trimTitle } from './todos/handlers.js';
import { writeSafety } from './todos/write-safety.js';
import {
  CreateTodoRoute,
  DeleteTodoRoute,
  GetTodoRoute,
  ListTodosRoute,
  UpdateTodoRoute,
} from './todos/schemas.js';

/** The API: service info, health, and the todos (each todo route names the scope its caller needs). */
export function addRoutes(app: App, { config, todos: repository, idempotency, build }: AppDeps): void {
  const system = systemHandlers({
    env: config.env,
    version: config.version ?? build.version,
    build,
    endpoints: app.routeTable.endpoints,
  });
  const safety = writeSafety({
    idempotency,
    ttlMs: config.writes.idempotencyTtlMs,
    leaseMs: config.limits.requestTimeoutMs, // no request runs longer: a holder gone past it has died
    requireIfMatch: config.writes.requireIfMatch,
  });
  const todos = todoHandlers({ todos: repository, safety });
  // With authentication on, the document says so: the Bearer scheme and the 401/403 of each todo operation.
  const secured = <S extends { response: object }>(schema: S): S =>
    config.auth.mode === 'none' ? schema : { ...schema, security: [{ bearer: [] }], response: { ...schema.response, ...problemResponses(401, 403) } };
  const read = { scope: READ_SCOPE } as const;
  const write = { scope: WRITE_SCOPE } as const;

  app.get('/', { schema: InfoRoute }, system.info);
  // The Go reference's health check is a probe too: never rate-limited nor shed.
  app.get('/health', { schema: HealthRoute, config: UNLIMITED }, system.health);

  app.get('/api/todos', { schema: secured(ListTodosRoute), config: read }, todos.list);
  app.post('/api/todos', { schema: secured(CreateTodoRoute), config: write, preValidation: trimTitle }, todos.create);
  app.get('/api/todos/:id', { schema: secured(GetTodoRoute), config: read }, todos.get);
  app.put('/api/todos/:id', { schema: secured(UpdateTodoRoute), config: write, preValidation: trimTitle }, todos.update);
  app.patch(
    '/api/todos/:id',
    {
      schema: secured({ ...UpdateTodoRoute, operationId: 'patchTodo', summary: 'Update a todo (same rules as PUT)' }),
      config: write,
      preValidation: trimTitle,
    },
    todos.update,
  );
  app.delete('/api/todos/:id', { schema: secured(DeleteTodoRoute), config: write }, todos.remove);
}

/** Probes and metrics: on the API port, or alone on MANAGEMENT_PORT. Not logged per request. */
export function addProbeRoutes(app: App, { lifecycle, checks, metrics, config }: AppDeps): void {
  const probes = probeHandlers({ lifecycle, checks, metrics, checkTimeoutMs: config.database.kind === 'postgres' ? config.database.statementTimeoutMs : 2000 });
  const quiet = { log: false, ...UNLIMITED };

  app.get('/livez', { schema: LivezRoute, config: quiet }, probes.livez);
  app.get('/readyz', { schema: ReadyzRoute, config: quiet }, probes.readyz);
  if (metrics.enabled) app.get('/metrics', { schema: MetricsRoute, config: quiet }, probes.metrics);
  app.get('/metrics/json', { schema: RuntimeRoute, config: quiet }, probes.runtime);
}

/** The OpenAPI document of this API, in JSON and YAML, and the docs page (Swagger UI) at /docs. */
export async function addDocsRoutes(app: App): Promise<void> {
  const hidden = { hide: true };
  await addDocsPage(app);
  app.get('/openapi.json', { schema: hidden }, () => app.swagger());
  app.get('/openapi.yaml', { schema: hidden }, (_req, reply) => reply.type('application/yaml').send(app.swagger({ yaml: true })));
}
