// Every route of the service, in one list: method, path, schema (the contract) and handler (the behaviour).
// Read this file to know the whole API surface. Cross-cutting behaviour lives in src/app.ts.
import type { ConnectRouter } from '@connectrpc/connect';
import { READ_SCOPE, WRITE_SCOPE, type Scope } from './auth/identity.js';
import type { App, AppDeps } from './deps.js';
import { callGuard, callTelemetry } from './grpc/calls.js';
import { file_grpc_health_v1_health, Health } from './grpc/gen/grpc/health/v1/health_pb.js';
import { file_grpc_reflection_v1_reflection, ServerReflection } from './grpc/gen/grpc/reflection/v1/reflection_pb.js';
import { file_todo_v1_todo, TodoService } from './grpc/gen/todo/v1/todo_pb.js';
import type { HealthService } from './grpc/health.js';
import { serverReflection } from './grpc/reflection.js';
import { todoService } from './grpc/todo-service.js';
import { addDocsPage } from './http/docs.js';
import { problemResponses } from './http/problem.js';
import { UNLIMITED, overloadedNow, overloadedProblem, rateLimitForCalls } from './http/protection.js';
import { LivezRoute, MetricsRoute, ReadyzRoute, RuntimeRoute, probeHandlers, type ReadinessDeps } from './ops/probes.js';
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
export function addRoutes(app: App, deps: AppDeps): void {
  const { config, todos: repository, build } = deps;
  const system = systemHandlers({
    env: config.env,
    version: config.version ?? build.version,
    build,
    endpoints: app.routeTable.endpoints,
  });
  const todos = todoHandlers({ todos: repository, safety: writeSafetyOf(deps) });
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

/**
 * The RPC services on GRPC_PORT (gRPC, gRPC-Web and Connect; src/grpc/server.ts): the todos with the API's
 * repository, rules, identity, scopes and rate limit; health checking from the same readiness as /readyz;
 * server reflection. Health and reflection, like the probes, need no credentials and are never rate-limited.
 */
export function addRpcServices(router: ConnectRouter, deps: AppDeps, { app, health }: { app: App; health: HealthService }): void {
  const scopes = {
    createTodo: WRITE_SCOPE,
    getTodo: READ_SCOPE,
    listTodos: READ_SCOPE,
    updateTodo: WRITE_SCOPE,
    deleteTodo: WRITE_SCOPE,
  } satisfies Record<keyof typeof TodoService.method, Scope>;
  const guard = callGuard({
    authenticator: deps.authenticator,
    scopes,
    rateLimit: rateLimitForCalls(app, deps.config),
    overloaded: overloadedNow(app),
    overloadedError: overloadedProblem,
  });
  const telemetry = callTelemetry(deps, { log: true });

  router.service(TodoService, todoService(deps.todos, writeSafetyOf(deps)), { interceptors: [telemetry, guard] });
  router.service(Health, health.impl, { interceptors: [callTelemetry(deps, { log: false })] });
  router.service(ServerReflection, serverReflection([file_todo_v1_todo, file_grpc_health_v1_health, file_grpc_reflection_v1_reflection]), {
    interceptors: [telemetry],
  });
}

/** ETags, If-Match and Idempotency-Key, for REST and gRPC alike. */
function writeSafetyOf({ config, idempotency }: AppDeps) {
  return writeSafety({
    idempotency,
    ttlMs: config.writes.idempotencyTtlMs,
    leaseMs: config.limits.requestTimeoutMs, // no request runs longer: a holder gone past it has died
    requireIfMatch: config.writes.requireIfMatch,
  });
}

/** What readiness is made of: /readyz and the gRPC health service answer from the same checks. */
export function readinessOf({ lifecycle, checks, config }: AppDeps): ReadinessDeps {
  return { lifecycle, checks, checkTimeoutMs: config.database.kind === 'postgres' ? config.database.statementTimeoutMs : 2000 };
}

/** Probes and metrics: on the API port, or alone on MANAGEMENT_PORT. Not logged per request. */
export function addProbeRoutes(app: App, deps: AppDeps): void {
  const probes = probeHandlers({ ...readinessOf(deps), metrics: deps.metrics });
  const quiet = { log: false, ...UNLIMITED };

  app.get('/livez', { schema: LivezRoute, config: quiet }, probes.livez);
  app.get('/readyz', { schema: ReadyzRoute, config: quiet }, probes.readyz);
  if (deps.metrics.enabled) app.get('/metrics', { schema: MetricsRoute, config: quiet }, probes.metrics);
  app.get('/metrics/json', { schema: RuntimeRoute, config: quiet }, probes.runtime);
}

/** The OpenAPI document of this API, in JSON and YAML, and the docs page (Swagger UI) at /docs. */
export async function addDocsRoutes(app: App): Promise<void> {
  const hidden = { hide: true };
  await addDocsPage(app);
  app.get('/openapi.json', { schema: hidden }, () => app.swagger());
  app.get('/openapi.yaml', { schema: hidden }, (_req, reply) => reply.type('application/yaml').send(app.swagger({ yaml: true })));
}
