// run(): configuration → telemetry → storage (+ cache) → app → listening servers, returning close().
// The process entry point (src/main.ts) calls it with no arguments; tests call it with their own environment
// and an AbortSignal.
import closeWithGrace from 'close-with-grace';
import type { DestinationStream } from 'pino';
import { buildApp, buildManagementApp, type App } from './app.js';
import { buildInfo } from './build-info.js';
import { ConfigError, loadConfig, redactUrl, withDotEnv } from './config.js';
import { openStorage } from './storage/index.js';
import type { Lifecycle, ReadinessCheck } from './system/probes.js';
import { instrumentTodos } from './telemetry/instrument.js';
import { createLogger, flushLogger } from './telemetry/logger.js';
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function start(options: RunOptions, ownsProcess: boolean): Promise<Service> {
  const config = loadConfig(options.env ?? withDotEnv(process.env));
  const version = config.version ?? buildInfo.version;
  const logger = await createLogger(config.log, options.logDestination);
  // The OpenTelemetry SDK is loaded only when an endpoint is configured (dist/tracing.cjs in the build).
  const tracing = config.tracing && (await import('./telemetry/tracing.js')).startTracing(config.tracing, version, logger);
  const storage = await openStorage(config, logger);

  const metrics = config.metricsEnabled ? createMetrics(buildInfo, version, storage.kind) : disabledMetrics();
  metrics.sources.todosStored = async () => (await storage.todos.list({ offset: 0, limit: 0 })).total;
  if (storage.poolStats) metrics.sources.pool = () => storage.poolStats!();

  // The Redis client is loaded only when a cache is configured.
  const cacheModule = config.redis && (await import('./cache/redis-cache.js'));
  const cache = cacheModule && config.redis ? new cacheModule.RedisCache(config.redis, logger, metrics, tracing) : undefined;
  if (cache && !(await cache.connected(2000))) logger.warn('redis: not reachable at start; serving without the cache until it is');
  const instrumented = instrumentTodos(storage.todos, storage.kind, metrics, tracing);
  const todos = cache ? (await import('./cache/cached-todos.js')).cachedTodoRepository(instrumented, cache) : instrumented;

  const lifecycle: Lifecycle = { shuttingDown: false };
  const checks: ReadinessCheck[] = [{ name: 'database', critical: true, check: () => storage.ping() }];
  if (cache) checks.push({ name: 'redis', critical: config.readinessRequiresRedis, check: () => cache.ping() });

  const deps = { config, logger, todos, build: buildInfo, metrics, tracing, lifecycle, checks };
  const app = await buildApp(deps);
  const management = config.managementPort === undefined ? undefined : buildManagementApp(deps);

  const closeResources = async () => {
    await cache?.close();
    await storage.close();
    await tracing?.shutdown();
  };

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      lifecycle.shuttingDown = true;
      logger.info({ delay_ms: config.shutdownDelayMs }, 'shutting down: not ready any more, still serving');
      await sleep(config.shutdownDelayMs);
      logger.info('shutting down: draining in-flight requests');
      lifecycle.draining = true;
      // Requests still running after the timeout lose their connections; the rest finish normally.
      const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
      try {
        await app.close();
        await management?.close();
      } finally {
        clearTimeout(cut);
        await closeResources();
      }
      logger.info('stopped');
      await flushLogger(logger);
    })());

  try {
    await app.listen({ port: config.port, host: config.host });
    if (management) await management.listen({ port: config.managementPort!, host: config.host });
  } catch (error) {
    await app.close();
    await closeResources();
    throw error;
  }
  const urlOf = (server: App['server'], fallback: number) => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : fallback;
    return { port, url: `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}` };
  };
  const { port, url } = urlOf(app.server, config.port);
  const managementUrl = management ? urlOf(management.server, config.managementPort!).url : url;
  logger.info(
    {
      url,
      management_url: managementUrl,
      version,
      commit: buildInfo.commit,
      storage: storage.kind,
      cache: cache ? 'redis' : 'none',
      tracing: config.tracing ? redactUrl(config.tracing.tracesUrl) : 'off',
      node: process.version,
    },
    'listening',
  );

  if (ownsProcess) {
    const grace = config.shutdownDelayMs + config.shutdownTimeoutMs + 2000;
    closeWithGrace({ delay: grace, logger: false }, async ({ signal, err }) => {
      if (err) logger.error({ err }, 'fatal error, shutting down');
      else logger.info({ signal }, 'signal received');
      await close();
    });
  } else {
    options.signal!.addEventListener('abort', () => void close(), { once: true });
  }
  return { app, url, port, managementUrl, close };
}
