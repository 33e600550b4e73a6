// run(): configuration → dependencies → listening server, returning close(). The process entry point
// (src/main.ts) calls it with no arguments; tests call it with their own environment and an AbortSignal.
import closeWithGrace from 'close-with-grace';
import type { DestinationStream } from 'pino';
import { buildApp, type App } from './app.js';
import { cachedTodoRepository } from './cache/cached-todos.js';
import { RedisCache } from './cache/redis-cache.js';
import { buildInfo } from './build-info.js';
import { ConfigError, loadConfig, withDotEnv } from './config.js';
import { openStorage } from './storage/index.js';
import { createLogger, flushLogger } from './telemetry/logger.js';

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
  /** Stops accepting connections, lets in-flight requests finish (bounded), closes the database. Idempotent. */
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

async function start(options: RunOptions, ownsProcess: boolean): Promise<Service> {
  const config = loadConfig(options.env ?? withDotEnv(process.env));
  const logger = await createLogger(config.log, options.logDestination);
  const storage = await openStorage(config, logger);
  const cache = config.redis && new RedisCache(config.redis, logger);
  const todos = cache ? cachedTodoRepository(storage.todos, cache) : storage.todos;
  const app = buildApp({ config, logger, storage, cache, todos, build: buildInfo });
  const closeResources = async () => {
    await cache?.close();
    await storage.close();
  };

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info('shutting down: draining in-flight requests');
      // Requests still running after the timeout lose their connections; the rest finish normally.
      const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
        await closeResources();
      }
      logger.info('stopped');
      await flushLogger(logger);
    })());

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await closeResources();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;
  logger.info(
    { url, version: config.version ?? buildInfo.version, commit: buildInfo.commit, storage: storage.kind, cache: cache ? 'redis' : 'none', node: process.version },
    'listening',
  );

  if (ownsProcess) {
    closeWithGrace({ delay: config.shutdownTimeoutMs + 2000, logger: false }, async ({ signal, err }) => {
      if (err) logger.error({ err }, 'fatal error, shutting down');
      else logger.info({ signal }, 'signal received');
      await close();
    });
  } else {
    options.signal!.addEventListener('abort', () => void close(), { once: true });
  }
  return { app, url, port, close };
}
