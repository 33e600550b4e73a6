// The types every layer shares: what the application is built from (AppDeps) and what it is (App). Only types,
// so that src/app.ts and src/routes.ts both depend on this file instead of on each other.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Authenticator } from './auth/authenticate.js';
import type { BuildInfo } from './build-info.js';
import type { Config } from './config.js';
import type { Lifecycle, ReadinessCheck } from './ops/probes.js';
import type { Logger } from './telemetry/logger.js';
import type { Metrics } from './telemetry/metrics.js';
import type { Tracing } from './telemetry/tracing.js';
import type { IdempotencyStore, TodoRepository } from './todos/repository.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** The todo repository to serve from (instrumented, and cached when Redis is configured). */
  todos: TodoRepository;
  /** Where Idempotency-Keys and their answers are kept (the database). */
  idempotency: IdempotencyStore;
  /** Who is calling: the shared identity (AUTH_MODE=none), or a verified token or API key. */
  authenticator: Authenticator;
  build: BuildInfo;
  metrics: Metrics;
  tracing: Tracing | undefined;
  lifecycle: Lifecycle;
  checks: ReadinessCheck[];
}

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
