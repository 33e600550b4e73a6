// Per-request telemetry hooks: the in-flight gauge, the request's span (only when tracing is on), and at the
// end one log line plus the request metrics.
import type { Attributes } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { RequestTrace, Tracing } from './tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's span and its context; null when tracing is off. */
    trace: RequestTrace | null;
  }
  interface FastifyContextConfig {
    /** false: no log line for this route (probes and scrapes would drown the log). */
    log?: boolean;
  }
}

export interface RequestTelemetryDeps {
  logger: Logger;
  metrics: Metrics;
  tracing: Tracing | undefined;
}

export function addRequestTelemetry(app: FastifyInstance, { logger, metrics, tracing }: RequestTelemetryDeps): void {
  app.decorateRequest('trace', null);

  app.addHook('onRequest', (req, reply, done) => {
    metrics.requestStarted();
    if (tracing) {
      const route = req.routeOptions.url;
      const trace = (req.trace = tracing.startRequest(route ? `${req.method} ${route}` : req.method, req.headers));
      const { traceId, spanId, traceFlags } = trace.span.spanContext();
      reply.header('traceresponse', `00-${traceId}-${spanId}-${traceFlags & 1 ? '01' : '00'}`);
    }
    done();
  });

  if (tracing) {
    // The handler runs with the request's span active (AsyncLocalStorage), so the spans of its database and
    // Redis calls are children of it. Entered here, after the body is read: the socket's callbacks that read
    // it run in the connection's context, not the request's.
    app.addHook('preHandler', (req, _reply, done) => {
      if (req.trace) tracing.runIn(req.trace.context, done);
      else done();
    });
    app.addHook('onError', (req, _reply, error, done) => {
      if (req.trace) {
        req.trace.span.recordException(error);
        req.trace.error = error.message;
      }
      done();
    });
  }

  app.addHook('onResponse', (req, reply, done) => {
    metrics.requestFinished();
    const status = reply.statusCode;
    const options = req.routeOptions;
    const bytes = Number(reply.getHeader('content-length') ?? 0);
    metrics.observeRequest(req.method, options.url ?? 'unmatched', status, reply.elapsedTime / 1000, bytes);
    if (req.trace) endServerSpan(req.trace, req, options.url, status);
    if (options.config.log === false) return done();

    // One object literal with the same keys whether tracing is on or not (pino leaves undefined values out).
    const ids = traceIds(req);
    const line = {
      request_id: req.id,
      trace_id: ids.trace_id,
      span_id: ids.span_id,
      method: req.method,
      route: options.url ?? null,
      url: req.url,
      status,
      bytes,
      duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
      remote_addr: req.ip,
      user_agent: req.headers['user-agent'],
      // Who called (never the token itself): what an operator needs to follow a user's requests.
      owner: req.identity && req.identity.via !== 'none' ? req.identity.owner : undefined,
    };
    if (status >= 500) logger.error(line, 'request failed');
    else logger.info(line, 'request completed');
    done();
  });
}

/** A W3C traceparent: version, trace id, parent id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/**
 * The trace and span ids of a request's log lines: its span's with tracing on; with tracing off, the trace id
 * of the caller's traceparent (if any), so the lines still meet the caller's trace.
 */
function traceIds(req: FastifyRequest): { trace_id: string | undefined; span_id: string | undefined } {
  if (req.trace) {
    const { traceId, spanId } = req.trace.span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  }
  const header = req.headers.traceparent;
  const traceId = typeof header === 'string' ? TRACEPARENT.exec(header)?.[1] : undefined;
  return { trace_id: traceId === '0'.repeat(32) ? undefined : traceId, span_id: undefined };
}

/** The fields every other log line about a request carries (its errors): its id, trace id and span id. */
export function requestLogFields(req: FastifyRequest): { request_id: string; trace_id: string | undefined; span_id: string | undefined } {
  return { request_id: req.id, ...traceIds(req) };
}

/** The URL without its query. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/**
 * Sets the server span's attributes (HTTP semantic conventions), all known once the response is, and ends it.
 * Only a server error (5xx) marks it failed: a 4xx is the client's mistake (OpenTelemetry's HTTP conventions).
 */
function endServerSpan({ span, error }: RequestTrace, req: FastifyRequest, route: string | undefined, status: number): void {
  const attributes: Attributes = {
    'http.request.method': req.method,
    'url.path': pathOf(req.url),
    'url.scheme': req.protocol,
    'client.address': req.ip,
    'user_agent.original': req.headers['user-agent'] ?? '',
    'http.response.status_code': status,
  };
  if (route !== undefined) attributes['http.route'] = route; // an unmatched request has no route
  span.setAttributes(attributes);
  if (status >= 500) span.setStatus(error === undefined ? { code: 2 } : { code: 2, message: error }); // SpanStatusCode.ERROR
  span.end();
}
