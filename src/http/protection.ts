// What lets the service face anonymous clients: bounded connections and timeouts, problem bodies for requests
// Node's HTTP parser refuses, security headers, a refusal of cross-site browser writes, load shedding before
// the heap runs out, and rate limits. Maintained libraries do the work (helmet, @fastify/under-pressure,
// @fastify/rate-limit); this file only configures them. The choices: docs/DECISIONS.md, "Exposure".
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyHttpOptions, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { Identity } from '../auth/identity.js';
import helmet from 'helmet';
import type { Config } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import { HttpProblem, PROBLEM_MEDIA_TYPE, ProblemType, problemBody, type ProblemInit } from './problem.js';

/** Route config of endpoints that are never rate-limited nor shed: probes, metrics and the Go health check. */
export const UNLIMITED = { rateLimit: false, pressureHandler: () => undefined } as const;

/** Server options: how long a client may take, how many connections it may hold, what a refused request gets. */
export function connectionOptions(limits: Config['limits']): Partial<FastifyHttpOptions<RawServerDefault>> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node enforces both timeouts on this tick (30 s by default, which would let a slow client stay up to
      // twice its time): a quarter of the shorter timeout, between 50 ms and 1 s.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    },
    clientErrorHandler: answerClientError,
  };
}

/**
 * Requests Node's HTTP parser refuses never reach Fastify: an unknown method, headers over 16 KiB, a malformed
 * request line, a request that took longer than its timeout. They get a problem body too, then the connection
 * is closed (the parser cannot tell where the next request would start).
 */
function answerClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'The request was not received in time.']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'The request headers are larger than 16 KiB.']
        : error.code === 'HPE_INVALID_METHOD'
          ? [400, 'The request method is not one this server knows.']
          : [400, 'The request is not valid HTTP/1.1.'];
  if (socket.writable) {
    const requestId = randomUUID();
    const body = JSON.stringify(problemBody({ status, detail }, '', requestId));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** A page's worth of policy for the docs page; to a JSON response it only says "render nothing, frame nothing". */
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/**
 * Security headers on every response, from helmet built once at start (@fastify/helmet builds helmet's
 * middleware again on every request). Only the headers that mean something for an API and its docs page:
 * nosniff, no referrer, no framing, the CSP above, HSTS when the public URL is https. `Cache-Control: no-store`
 * is set per request in app.ts (the docs assets replace it with their own).
 */
export function addSecurityHeaders(app: FastifyInstance, publicUrl: string | undefined): void {
  const setHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    strictTransportSecurity: publicUrl?.startsWith('https:') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    xContentTypeOptions: true,
    crossOriginResourcePolicy: false, // the API is meant to be called from other origins (CORS decides)
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
    xPoweredBy: false,
  });
  app.addHook('onRequest', (req, reply, done) => setHeaders(req.raw, reply.raw, (error) => done(error as Error | undefined)));
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses writes a browser sends on behalf of a page of another site whose origin CORS does not allow. Such a
 * "simple" request (a form post, a text/plain fetch) needs no preflight, so CORS alone would not stop it from
 * changing data. Non-browser clients (no Origin, no Sec-Fetch-Site), same-site pages and allowed origins pass.
 */
export function addCrossSiteWriteGuard(app: FastifyInstance, origins: Config['cors']['origins']): void {
  if (origins === '*') return; // every origin is allowed: nothing is cross-site in the sense of CORS
  const allowed = new Set(origins);
  app.addHook('onRequest', (req, _reply, done) => {
    if (!UNSAFE_METHODS.has(req.method)) return done();
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const fine =
      origin === undefined
        ? site !== 'cross-site'
        : allowed.has(origin) ||
          site === 'same-origin' ||
          site === 'same-site' ||
          site === 'none' ||
          (site === undefined && origin === `${req.protocol}://${req.host}`);
    if (fine) return done();
    done(
      new HttpProblem({
        status: 403,
        type: ProblemType.crossSite,
        title: 'Cross-site request refused',
        detail: `A ${req.method} from a page of another site (${origin ?? 'no Origin'}) is not allowed; allowed origins: CORS_ORIGINS.`,
      }),
    );
  });
}

/**
 * Load shedding (@fastify/under-pressure): while the heap in use is above its share of V8's heap limit, or the
 * event loop lags more than the configured delay, requests get 503 + Retry-After instead of memory or a queue.
 * Probes and metrics are exempt (route config UNLIMITED), so an overloaded replica is not restarted for it.
 */
export async function addOverloadShedding(app: FastifyInstance, limits: Config['limits']): Promise<void> {
  const maxHeapUsedBytes = limits.overloadHeapRatio > 0 ? Math.floor(getHeapStatistics().heap_size_limit * limits.overloadHeapRatio) : 0;
  // Bun's monitorEventLoopDelay records nothing in some intervals of a busy loop, which under-pressure reads as an
  // infinite delay: on Bun only the heap sheds load (a test under Bun saw 503s on an idle server otherwise).
  const maxEventLoopDelay = process.versions.bun === undefined ? limits.overloadEventLoopDelayMs : 0;
  if (maxHeapUsedBytes === 0 && maxEventLoopDelay === 0) return;
  await app.register(underPressure, {
    maxHeapUsedBytes,
    maxEventLoopDelay,
    pressureHandler: async (_req, reply, type) => {
      reply.header('retry-after', String(OVERLOAD_RETRY_AFTER_SECONDS));
      throw overloaded(type);
    },
  });
}

const OVERLOAD_RETRY_AFTER_SECONDS = 2;

const overloaded = (type: string | undefined, headers?: Record<string, string>) =>
  new HttpProblem({
    status: 503,
    type: ProblemType.overloaded,
    title: 'Overloaded',
    detail: `The server is overloaded right now${type === undefined ? '' : ` (${type === 'heapUsedBytes' ? 'memory' : 'event-loop delay'})`}; retry shortly.`,
    ...(headers ? { headers } : {}),
  } satisfies ProblemInit);

/**
 * Rate limits per caller: its owner when authenticated, else its address (as TRUST_PROXY resolves it), one
 * budget across the API's routes. Counted in
 * Redis when REDIS_URL is set, so the limit holds across replicas; in an LRU map in memory otherwise. When Redis
 * does not answer, the limiter lets requests through (one log line per outage) rather than failing them.
 */
export async function addRateLimit(app: FastifyInstance, config: Pick<Config, 'limits' | 'redis'>, logger: Logger): Promise<void> {
  const limit = config.limits.rateLimit;
  if (!limit) return;
  const redis = config.redis ? await rateLimitRedis(config.redis, logger) : undefined;
  if (redis) app.addHook('onClose', async () => redis.close());
  await app.register(rateLimit, {
    global: true,
    max: limit.max,
    timeWindow: limit.windowMs,
    hook: 'onRequest',
    enableDraftSpec: true, // RateLimit-Limit / -Remaining / -Reset, and Retry-After on a 429
    // An authenticated caller has one budget wherever it calls from; everyone else, one per address.
    keyGenerator: (req) => (req.identity && req.identity.via !== 'none' ? `owner:${req.identity.owner}` : `ip:${req.ip}`),
    ...(redis ? { redis, nameSpace: `${config.redis!.keyPrefix}ratelimit:` } : {}),
    skipOnError: true,
    errorResponseBuilder: (_req, context) => rateLimited(context.max, limit.windowMs, context.after),
  });
}

const rateLimited = (max: number, windowMs: number, after: string, headers?: Record<string, string>) =>
  new HttpProblem({
    status: 429,
    type: ProblemType.rateLimited,
    title: 'Too many requests',
    detail: `More than ${max} requests in ${windowMs / 1000} s from this client; retry in ${after}.`,
    ...(headers ? { headers } : {}),
  });

/** Who an RPC is counted as: what the limiter's key is made of (see `keyGenerator` above). */
export interface RateLimitedCaller {
  identity: Identity | null;
  ip: string;
}

/**
 * The API's rate limit for calls that are not Fastify requests (the gRPC service): the same limiter, store and
 * budget, through @fastify/rate-limit's public `createRateLimit()`, so a caller has one budget over REST and
 * gRPC together. Throws the 429 problem past the limit; undefined when rate limiting is off.
 */
export function rateLimitForCalls(app: FastifyInstance, config: Pick<Config, 'limits'>): ((caller: RateLimitedCaller) => Promise<void>) | undefined {
  const limit = config.limits.rateLimit;
  if (!limit || !app.hasDecorator('createRateLimit')) return undefined;
  const check = app.createRateLimit();
  return async (caller) => {
    // The limiter reads what the keyGenerator reads (identity, ip) and the route's config, which a call has none of.
    const request = { identity: caller.identity, ip: caller.ip, routeOptions: { config: {} } } as unknown as FastifyRequest;
    const result = await check(request);
    if (!result.isAllowed && result.isExceeded) {
      throw rateLimited(result.max, limit.windowMs, `${result.ttlInSeconds} s`, { 'retry-after': String(result.ttlInSeconds) });
    }
  };
}

/** True while the server sheds load (@fastify/under-pressure), for calls that do not pass Fastify's hooks. */
export function overloadedNow(app: FastifyInstance): () => boolean {
  return app.hasDecorator('isUnderPressure') ? () => app.isUnderPressure() : () => false;
}

/** The 503 problem of shed load, for calls that do not pass Fastify's hooks. */
export const overloadedProblem = () => overloaded(undefined, { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) });

async function rateLimitRedis(options: NonNullable<Config['redis']>, logger: Logger) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(options.url, {
    enableOfflineQueue: false, // while disconnected, a count fails at once and the request goes through
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(1000, options.timeoutMs),
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  let down = false;
  let closing = false;
  const lost = (why: string) => {
    if (down || closing) return;
    down = true;
    logger.warn({ err: why }, 'rate limit: Redis unavailable, letting requests through uncounted until it answers');
  };
  redis.on('error', (error: Error) => lost(error.message));
  redis.on('close', () => lost('connection closed'));
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info('rate limit: Redis answering again, counting in it');
  });
  return Object.assign(redis, {
    close: async () => {
      closing = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  });
}
