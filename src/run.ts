// run(): configuration → telemetry → storage (+ cache) → app → listening servers, returning close().
// The process entry point (src/main.ts) calls it with no arguments; tests call it with their own environment
// and an AbortSignal.
import closeWithGrace from 'close-with-grace';
import type { DestinationStream } from 'pino';
import { buildApp, buildManagementApp } from './app.js';
import { createAuthenticator } from './auth/authenticate.js';
import { buildInfo } from './build-info.js';
import type { App } from './deps.js';
import { ConfigError, loadConfig, redactUrl, withDotEnv, type Config } from './config.js';
import { openStorage } from './storage/index.js';
import type { Lifecycle, ReadinessCheck } from './ops/probes.js';
import { instrumentTodos } from './telemetry/instrument.js';
import { createLogger, flushLogger, type Logger } from './telemetry/logger.js';
import { createMetrics, disabledMetrics } from './telemetry/metrics.js';

export interface RunOptions {
  /** The environment to configure from. Default: process.env over an optional `.env` file. */
  env?: NodeJS.ProcessEnv;
  /**
   * Aborting it shuts the service down. Without one, run() owns the process: SIGTERM/SIGINT shut down
   * gracefully and exit 0, a start-up failure exits 1.
   */
  signal?: AbortSignal;
  /** Where log lines go (tests capture them). Default: stdout. */
  logDestination?: DestinationStream;
}

export interface Service {
  app: App;
  /** Base URL of the API, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** Base URL of the management listener (probes, metrics); the API's URL when MANAGEMENT_PORT is unset. */
  managementUrl: string;
  /** Base URL of the gRPC listener (`http://127.0.0.1:9090`, HTTP/2 cleartext); undefined when GRPC_PORT is unset. */
  grpcUrl: string | undefined;
  /**
   * Turns /readyz to 503, keeps serving for SHUTDOWN_DELAY_MS, then stops accepting connections, lets
   * in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS) and closes everything. Idempotent.
   */
  close(): Promise<void>;
}

export async function run(options: RunOptions = {}): Promise<Service> {
  const ownsProcess = options.signal === undefined;
  try {
    return await start(options, ownsProcess);
  } catch (error) {
    if (!ownsProcess) throw error;
    process.stderr.write(`${error instanceof ConfigError ? error.message : `Start-up failed: ${String((error as Error).stack ?? error)}`}\n`);
    process.exit(1);
  }
}

const IDEMPOTENCY_PURGE_MS = 10 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function start(options: RunOptions, ownsProcess: boolean): Promise<Service> {
  const config = loadConfig(options.env ?? withDotEnv(process.env));
  const version = config.version ?? buildInfo.version;
  const logger = await createLogger(config.log, options.logDestination);
  // Whoever opens a resource pushes its closer; a start that fails half-way closes what it opened, and close()
  // pops the rest in reverse: servers, cache, storage, tracing.
  const closers = new Closers(logger);
  try {
    const service = await open(config, version, logger, closers);
    if (ownsProcess) {
      const grace = config.shutdownDelayMs + config.shutdownTimeoutMs + 2000;
      closeWithGrace({ delay: grace, logger: false }, async ({ signal, err }) => {
        if (err) logger.error({ err }, 'fatal error, shutting down');
        else logger.info({ signal }, 'signal received');
        await service.close();
      });
    } else {
      options.signal!.addEventListener('abort', () => void service.close(), { once: true });
    }
    return service;
  } catch (error) {
    await closers.closeAll();
    await flushLogger(logger);
    throw error;
  }
}

/** A stack of closers: closeAll() runs them last-in first-out, each once, and logs (not throws) failures. */
class Closers {
  private readonly stack: { name: string; close: () => unknown }[] = [];
  constructor(private readonly logger: Logger) {}

  push(name: string, close: () => unknown): void {
    this.stack.push({ name, close });
  }

  async closeAll(): Promise<void> {
    for (let closer = this.stack.pop(); closer; closer = this.stack.pop()) {
      try {
        await closer.close();
      } catch (error) {
        this.logger.warn({ err: error, resource: closer.name }, 'closing failed');
      }
    }
  }
}

async function open(config: Config, version: string, logger: Logger, closers: Closers): Promise<Service> {
  // The OpenTelemetry SDK is loaded only when an endpoint is configured (dist/tracing.cjs in the build).
  const tracing = config.tracing && (await import('./telemetry/tracing.js')).startTracing(config.tracing, version, logger);
  if (tracing) closers.push('tracing', () => tracing.shutdown());
  const storage = await openStorage(config, logger);
  closers.push('storage', () => storage.close());

  const metrics = config.metricsEnabled ? createMetrics(buildInfo, version, storage.kind) : disabledMetrics();
  metrics.sources.todosStored = () => storage.countTodos();
  if (storage.poolStats) metrics.sources.pool = () => storage.poolStats!();

  // The Redis client is loaded only when a cache is configured.
  const cache = config.redis && new (await import('./cache/redis-cache.js')).RedisCache(config.redis, logger, metrics, tracing);
  if (cache) closers.push('redis cache', () => cache.close());
  if (cache && !(await cache.connected(2000))) logger.warn('redis: not reachable at start; serving without the cache until it is');
  const instrumented = instrumentTodos(storage.todos, storage.kind, metrics, tracing);
  const cached = cache && (await import('./todos/cached-repository.js'));
  const todos = cache && cached ? cached.cachedTodoRepository(instrumented, cache) : instrumented;
  // A repeat of an Idempotency-Key bumps the cache generations its write would have (the first may not have).
  const idempotency = cache && cached ? cached.cachedIdempotencyStore(storage.idempotency, cache) : storage.idempotency;

  // jwt mode starts fetching the issuer's keys now; until they are in, readiness says so (and the service runs).
  const authenticator = createAuthenticator(config.auth, storage.apiKeys, logger);
  closers.push('authenticator', () => authenticator.close());

  const lifecycle: Lifecycle = { shuttingDown: false };
  const checks: ReadinessCheck[] = [{ name: 'database', critical: true, check: () => storage.ping() }];
  if (cache) checks.push({ name: 'redis', critical: config.readinessRequiresRedis, check: () => cache.ping() });
  if (config.auth.mode === 'jwt') checks.push({ name: 'identity provider', critical: true, check: () => authenticator.ready() });

  // Expired Idempotency-Keys are deleted now and then (a lookup treats them as absent anyway).
  const purge = setInterval(() => {
    storage.idempotency.purgeExpired().catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'idempotency keys: purge failed'));
  }, IDEMPOTENCY_PURGE_MS).unref();
  closers.push('idempotency purge', () => clearInterval(purge));

  const deps = { config, logger, todos, idempotency, authenticator, build: buildInfo, metrics, tracing, lifecycle, checks };
  const app = await buildApp(deps);
  const management = config.managementPort === undefined ? undefined : buildManagementApp(deps);
  // gRPC's code is loaded only when its port is configured.
  const grpc = config.grpcPort === undefined ? undefined : (await import('./grpc/server.js')).createGrpcServer(deps, app);
  // The API and gRPC drain together; the management listener (probes) answers until both are closed.
  closers.push('servers', async () => {
    await Promise.all([app.close(), grpc?.close()]);
    await management?.close();
  });

  await app.listen({ port: config.port, host: config.host });
  if (management) await management.listen({ port: config.managementPort!, host: config.host });
  const grpcPort = grpc && (await grpc.listen(config.grpcPort!, config.host));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      lifecycle.shuttingDown = true;
      grpc?.readinessChanged();
      logger.info({ delay_ms: config.shutdownDelayMs }, 'shutting down: not ready any more, still serving');
      await sleep(config.shutdownDelayMs);
      logger.info('shutting down: draining in-flight requests');
      lifecycle.draining = true;
      // Requests still running after the timeout lose their connections; the rest finish normally.
      const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
      try {
        await closers.closeAll();
      } finally {
        clearTimeout(cut);
      }
      logger.info('stopped');
      await flushLogger(logger);
    })());

  const urlOf = (server: App['server'], fallback: number) => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : fallback;
    return { port, url: `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}` };
  };
  const { port, url } = urlOf(app.server, config.port);
  const managementUrl = management ? urlOf(management.server, config.managementPort!).url : url;
  const grpcUrl = grpcPort === undefined ? undefined : `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${grpcPort}`;
  logger.info(
    {
      url,
      management_url: managementUrl,
      grpc_url: grpcUrl,
      version,
      commit: buildInfo.commit,
      storage: storage.kind,
      cache: cache ? 'redis' : 'none',
      tracing: config.tracing ? redactUrl(config.tracing.tracesUrl) : 'off',
      node: process.version,
    },
    'listening',
  );
  return { app, url, port, managementUrl, grpcUrl, close };
}

