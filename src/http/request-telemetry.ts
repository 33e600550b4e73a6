// Per-request telemetry hooks: the in-flight gauge, the request's trace (only when tracing is on), and at the
// end one log line plus the request metrics.
import type { Attributes } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { RequestTrace, ServerSpan, TraceContext, Tracing } from '../telemetry/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's trace and span ids, and its span if sampled; null when tracing is off. */
    trace: RequestTrace | null;
    /** The span child spans (database, Redis) go under; set only when the request is sampled. */
    traceContext: TraceContext | undefined;
    /** `routeOptions` as read when the request started (tracing reads it then); null until then. */
    telemetryRoute: FastifyRequest['routeOptions'] | null;
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
  app.decorateRequest('traceContext', undefined);
  app.decorateRequest('telemetryRoute', null);

  app.addHook('onRequest', (req, reply, done) => {
    metrics.requestStarted();
    if (tracing) startServerSpan(tracing, req, reply);
    done();
  });

  if (tracing) {
    app.addHook('onError', (req, _reply, error, done) => {
      req.trace?.span?.recordException(error);
      done();
    });
  }

  app.addHook('onResponse', (req, reply, done) => {
    metrics.requestFinished();
    const status = reply.statusCode;
    // routeOptions is a getter that builds and freezes a new object on every read: read once per request.
    const options = req.telemetryRoute ?? req.routeOptions;
    const bytes = Number(reply.getHeader('content-length') ?? 0);
    metrics.observeRequest(req.method, options.url ?? 'unmatched', status, reply.elapsedTime / 1000, bytes);

    const trace = req.trace;
    if (trace?.span) endServerSpan(trace.span, req, options.url, status);
    if (options.config.log === false) return done();

    // One object literal with the same keys whether tracing is on or not (pino leaves undefined values out).
    // Built by spreading requestLogFields into it, the line cost a get by id ~25 % of its throughput, with
    // telemetry off too: pino's reads of such objects go megamorphic (docs/DECISIONS.md, "Logging").
    const line = {
      request_id: req.id,
      trace_id: trace?.traceId,
      span_id: trace?.spanId,
      method: req.method,
      route: options.url ?? null,
      url: req.url,
      status,
      bytes,
      duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
      remote_addr: req.ip,
      user_agent: req.headers['user-agent'],
    };
    if (status >= 500) logger.error(line, 'request failed');
    else logger.info(line, 'request completed');
    done();
  });
}

/**
 * The fields every other log line about a request carries (its errors): its id and, with tracing on, its
 * trace and span ids. The request's own line above builds the same fields inline.
 */
export function requestLogFields(req: FastifyRequest): { request_id: string; trace_id: string | undefined; span_id: string | undefined } {
  const trace = req.trace;
  return { request_id: req.id, trace_id: trace?.traceId, span_id: trace?.spanId };
}

/**
 * The request's trace under the incoming traceparent (if any), named in the `traceresponse` header: the trace
 * id, the request's span id and whether it is sampled.
 */
function startServerSpan(tracing: Tracing, req: FastifyRequest, reply: FastifyReply): void {
  const route = (req.telemetryRoute = req.routeOptions);
  const trace = tracing.startRequest(req.method, route.url, req.headers);
  req.trace = trace;
  reply.header('traceresponse', `00-${trace.traceId}-${trace.spanId}-${trace.span ? '01' : '00'}`);
  if (trace.span) req.traceContext = trace.span;
}

/** The URL without its query. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** The server span's attributes (HTTP semantic conventions), all known once the response is, and its end. */
function endServerSpan(span: ServerSpan, req: FastifyRequest, route: string | undefined, status: number): void {
  const attributes: Attributes = {
    'http.request.method': req.method,
    'url.path': pathOf(req.url),
    'url.scheme': req.protocol,
    'client.address': req.ip,
    'user_agent.original': req.headers['user-agent'] ?? '',
    'http.response.status_code': status,
  };
  if (route !== undefined) attributes['http.route'] = route; // an unmatched request has no route
  span.endWith(attributes, status >= 500);
}
