// Builds the Fastify application: cross-cutting concerns only (request ids, request logs, body parsing,
// protection, CORS, errors as problem details). The routes themselves are listed in src/routes.ts.
import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from './config.js';
import { addAuthentication } from './auth/authenticate.js';
import type { App, AppDeps } from './deps.js';
import type { Lifecycle } from './ops/probes.js';
import { firstValues, readRequestsLikeGo } from './http/go-reading.js';
import { HttpProblem, ProblemType, problemBody, type ProblemInit } from './http/problem.js';
import { addRequestTelemetry, requestLogFields } from './telemetry/request-hooks.js';
import { trackRoutes } from './http/route-table.js';
import { addProblemSchema, registerOpenApi } from './http/openapi.js';
import { fieldErrors, invalidRequest } from './http/validation.js';
import { addCrossSiteWriteGuard, addOverloadShedding, addRateLimit, addSecurityHeaders, connectionOptions } from './http/protection.js';
import { addDocsRoutes, addProbeRoutes, addRoutes } from './routes.js';
import { StorageFullError, StorageUnavailableError } from './storage/errors.js';
import type { Logger } from './telemetry/logger.js';
import { TODO_BODY_LIMIT } from './todos/schemas.js';

/** A client's X-Request-Id is kept when it is short and plain; anything else gets a fresh UUID. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** A Fastify instance with the service's options, error handler and not-found (404/405) handler. */
function createFastify(config: Config, logger: Logger, lifecycle: Lifecycle): App {
  const app = Fastify({
    // During shutdown requests are still served (see below), never answered 503 just for arriving late.
    return503OnClosing: false,
    logger: false, // one line per request is written by the onResponse hook (src/telemetry/request-hooks.ts)
    bodyLimit: config.bodyLimit ?? TODO_BODY_LIMIT,
    ...connectionOptions(config.limits),
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const header = req.headers['x-request-id'];
      return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, querystringParser: firstValues },
    // validateSchema: false — the schemas are fixed at build time and checked by the tests (and Redocly); Ajv
    // would otherwise compile the JSON Schema meta-schema at every start just to validate them again.
    ajv: { customOptions: { coerceTypes: false, allErrors: true, validateSchema: false } },
    // Errors the router raises before any route runs are problems too: an id past the router's length limit
    // is an invalid id (as Go's Atoi would say), a malformed percent-encoding a bad request.
    frameworkErrors: (error, req, reply) => {
      const problem: ProblemInit =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? { status: 400, type: ProblemType.invalidId, title: 'Invalid id', detail: 'The todo id must be a non-zero integer.' }
          : { status: 400, detail: 'The request path is not a valid URL (malformed percent-encoding).' };
      void sendProblem(req, reply.header('x-request-id', req.id), problem); // no onRequest hook ran
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routes = trackRoutes(app);
  app.decorate('routeTable', routes);
  app.addHook('onRequest', (req, reply, done) => {
    // Responses are about one moment of changing data: no cache keeps them (the docs assets say otherwise).
    reply.header('x-request-id', req.id).header('cache-control', 'no-store');
    // Draining: a request that still arrives on a kept-alive connection is answered, and its connection closed
    // after the response instead of idling until it is cut.
    if (lifecycle.draining) reply.header('connection', 'close');
    done();
  });

  app.setErrorHandler((error: FastifyError, req, reply) => {
    if (error instanceof StorageUnavailableError) {
      logger.warn({ err: error, ...requestLogFields(req) }, 'storage unavailable');
      reply.header('retry-after', '1');
      return sendProblem(req, reply, {
        status: 503,
        type: ProblemType.unavailable,
        title: 'Storage unavailable',
        detail: 'The database is unavailable right now; retry shortly.',
      });
    }
    if (error instanceof StorageFullError) {
      logger.error({ err: error, ...requestLogFields(req) }, 'storage full: writes fail until disk space is freed');
      return sendProblem(req, reply, {
        status: 507,
        type: ProblemType.storageFull,
        title: 'Storage full',
        detail: 'The database has no disk space left for this write; nothing was stored. Reads still work; retry later.',
        headers: { 'retry-after': '30' },
      });
    }
    const problem = toProblem(error);
    // A problem the service chose (503 overloaded, 503 keys unavailable) is a warning; anything else is a bug.
    if (error instanceof HttpProblem && problem.status >= 500) logger.warn({ problem: problem.type, ...requestLogFields(req) }, problem.detail);
    else if (problem.status >= 500) logger.error({ err: error, ...requestLogFields(req) }, 'unhandled error');
    return sendProblem(req, reply, problem);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0]!;
    const allowed = routes.allowedMethods(path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(req, reply, { status: 405, detail: `${req.method} is not allowed on ${path}; use ${allowed.join(', ')}.` });
    }
    return sendProblem(req, reply, { status: 404, detail: `No route for ${req.method} ${path}.` });
  });
  return app;
}

/** The API application. Probes and metrics are on it too unless MANAGEMENT_PORT moves them away. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const app = createFastify(config, logger, deps.lifecycle);
  capConnections(app, config.limits.maxConnections, logger);
  // First, so that every request is counted and logged, also those the guards below refuse.
  addRequestTelemetry(app, deps);
  // Before any route: the document is built from the routes as they are registered.
  addProblemSchema(app);
  if (config.docsEnabled) await registerOpenApi(app, config, config.version ?? deps.build.version);
  readRequestsLikeGo(app);

  // Refusals, cheapest first, all before the body is read: overload, cross-site writes, rate limits.
  await addOverloadShedding(app, config.limits);
  addSecurityHeaders(app, config.publicUrl);
  app.register(cors, {
    origin: config.cors.origins,
    credentials: config.cors.credentials,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    exposedHeaders: ['X-Request-Id', 'Content-Length', 'traceresponse', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'WWW-Authenticate', 'ETag', 'Idempotent-Replayed'],
    maxAge: 12 * 60 * 60,
    strictPreflight: false, // an OPTIONS without preflight headers gets 204 + Allow-Methods, not a text/plain 400
  });
  addCrossSiteWriteGuard(app, config.cors.origins);
  // Before the rate limit, which counts an authenticated caller by its owner rather than its address.
  addAuthentication(app, deps.authenticator, config.auth.mode);
  await addRateLimit(app, config, logger);

  addRoutes(app, deps);
  if (config.docsEnabled) await addDocsRoutes(app);
  if (config.managementPort === undefined) addProbeRoutes(app, deps);
  return app;
}

/** Past MAX_CONNECTIONS Node closes new connections at once; the first of each 10 s is logged with the count. */
function capConnections(app: App, max: number, logger: Logger): void {
  if (max === 0) return;
  app.server.maxConnections = max;
  let dropped = 0;
  let quietUntil = 0;
  app.server.on('drop', () => {
    dropped++;
    if (Date.now() < quietUntil) return;
    quietUntil = Date.now() + 10_000;
    logger.warn({ max_connections: max, dropped_total: dropped }, 'connection refused: MAX_CONNECTIONS reached');
  });
}

/** The management listener (MANAGEMENT_PORT): probes and metrics only, never exposed through the ingress. */
export function buildManagementApp(deps: AppDeps): App {
  const app = createFastify(deps.config, deps.logger, deps.lifecycle);
  addProbeRoutes(app, deps);
  return app;
}

export function sendProblem(req: FastifyRequest, reply: FastifyReply, init: ProblemInit) {
  if (init.headers) reply.headers(init.headers);
  return reply
    .code(init.status)
    .type('application/problem+json')
    .send(problemBody(init, req.url, req.id));
}

/** Maps anything thrown in the request pipeline to a problem. 5xx details never reach the client. */
function toProblem(error: FastifyError): ProblemInit {
  if (error instanceof HttpProblem) return error.init;
  if (error.validation) {
    const errors = fieldErrors(error.validationContext, error.validation);
    if (error.validationContext === 'params') {
      return { status: 400, type: ProblemType.invalidId, title: 'Invalid id', detail: 'The todo id must be a non-zero integer.', errors };
    }
    return invalidRequest(errors);
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) return { status: 500, detail: 'The server could not handle the request. It has been logged.' };
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return { status: 400, type: ProblemType.invalidJson, title: 'Invalid JSON', detail: 'The request body is not valid JSON.' };
  }
  return { status, detail: error.message };
}
