// Per-request telemetry hooks: the request id header, the in-flight gauge, the request's server span (only
// when tracing is on), and at the end one log line plus the request metrics.
import type { Context, Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's server span and the context carrying it; null when tracing is off. */
    trace: { span: Span; context: Context } | null;
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
    if (!tracing) return done();
    const { span, context } = startServerSpan(tracing, req);
    req.trace = { span, context };
    const { traceId, spanId, traceFlags } = span.spanContext();
    reply.header('traceresponse', `00-${traceId}-${spanId}-0${traceFlags & 1}`);
    tracing.api.context.with(context, done);
  });

  if (tracing) {
    // Body parsing runs on socket events outside the request's context: enter it again for the handler,
    // so the database and Redis spans it opens become children of the request span.
    app.addHook('preHandler', (req, _reply, done) => {
      if (req.trace) tracing.api.context.with(req.trace.context, done);
      else done();
    });
    app.addHook('onError', (req, _reply, error, done) => {
      req.trace?.span.recordException(error);
      done();
    });
  }

  app.addHook('onResponse', (req, reply, done) => {
    metrics.requestFinished();
    const status = reply.statusCode;
    const route = req.routeOptions.url ?? 'unmatched';
    const bytes = Number(reply.getHeader('content-length') ?? 0);
    metrics.observeRequest(req.method, route, status, reply.elapsedTime / 1000, bytes);

    const trace = req.trace;
    if (trace && tracing) {
      trace.span.setAttribute('http.response.status_code', status);
      if (status >= 500) trace.span.setStatus({ code: tracing.api.SpanStatusCode.ERROR });
      trace.span.end();
    }
    if (req.routeOptions.config.log === false) return done();

    const line: Record<string, unknown> = {
      request_id: req.id,
      method: req.method,
      route: req.routeOptions.url ?? null,
      url: req.url,
      status,
      bytes,
      duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
      remote_addr: req.ip,
      user_agent: req.headers['user-agent'],
    };
    if (trace) {
      const { traceId, spanId } = trace.span.spanContext();
      line.trace_id = traceId;
      line.span_id = spanId;
    }
    if (status >= 500) logger.error(line, 'request failed');
    else logger.info(line, 'request completed');
    done();
  });
}

function startServerSpan(tracing: Tracing, req: FastifyRequest): { span: Span; context: Context } {
  const { api } = tracing;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const route = req.routeOptions.url;
  const span = tracing.tracer.startSpan(
    route ? `${req.method} ${route}` : req.method,
    {
      kind: api.SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method,
        'url.path': req.url.split('?', 1)[0],
        'url.scheme': req.protocol,
        ...(route && { 'http.route': route }),
        'client.address': req.ip,
        'user_agent.original': req.headers['user-agent'] ?? '',
      },
    },
    parent,
  );
  return { span, context: api.trace.setSpan(parent, span) };
}
