// What wraps every call, as Connect interceptors (the counterpart of the REST hooks in src/app.ts):
// - callTelemetry: the server span (W3C trace context from the metadata), the RPC metrics, one log line, and
//   every error turned into its gRPC status (src/grpc/errors.ts);
// - callGuard, for the todos: load shedding, the caller's identity and scope (the same Authenticator, from the
//   `authorization` metadata), the same rate limit as REST, and no work begun past the call's deadline.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import type { Attributes } from '@opentelemetry/api';
import { authorize, type Authenticator } from '../auth/authenticate.js';
import type { Identity, Scope } from '../auth/identity.js';
import { HttpProblem } from '../http/problem.js';
import type { RateLimitedCaller } from '../http/protection.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { codeName, isServerFault, toConnectError } from './errors.js';

/** Set by callTelemetry on each call it sees; the server counts the calls Connect refused before it (refusedCall). */
export const observedKey = createContextKey(false, { description: 'seen by callTelemetry' });

/** The caller of a call that passed the guard. */
const callerKey = createContextKey<Identity | undefined>(undefined, { description: 'the caller' });
/** The client's address (the connection's peer), set by the server for each call. */
export const peerKey = createContextKey<string>('', { description: 'the peer address' });

/** The caller of a todo call (the guard has run: a missing identity is a wiring bug, an INTERNAL). */
export function callerOf(ctx: Pick<HandlerContext, 'values' | 'method'>): Identity {
  const identity = ctx.values.get(callerKey);
  if (!identity) throw new Error(`no caller on ${ctx.method.name}: the service has no guard`);
  return identity;
}

/** A client's x-request-id is kept when it is short and plain (as REST keeps X-Request-Id); else a fresh UUID. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** A W3C traceparent: version, trace id (not all zeros), parent id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/** gRPC, gRPC-Web or Connect, from the request's content type. */
export function protocolOf(contentType: string | null): 'grpc' | 'grpc-web' | 'connect' {
  if (contentType?.startsWith('application/grpc-web')) return 'grpc-web';
  if (contentType?.startsWith('application/grpc')) return 'grpc';
  return 'connect';
}

export interface CallTelemetryDeps {
  logger: Logger;
  metrics: Metrics;
  tracing: Tracing | undefined;
}

/** `log: false` for health checks, which the platform calls every few seconds (REST's probes are not logged either). */
export function callTelemetry({ logger, metrics, tracing }: CallTelemetryDeps, options: { log: boolean }): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    req.contextValues.set(observedKey, true);
    const service = req.service.typeName;
    const method = req.method.name;
    const protocol = protocolOf(req.header.get('content-type'));
    const header = req.header.get('x-request-id');
    const requestId = header !== null && SANE_REQUEST_ID.test(header) ? header : randomUUID();
    const trace = tracing?.startRequest(`${service}/${method}`, Object.fromEntries(req.header));

    // The response names the request and its span, as REST's X-Request-Id and traceresponse headers do.
    const ids = trace?.span.spanContext();
    const named = (metadata: Headers) => {
      metadata.set('x-request-id', requestId);
      if (ids) metadata.set('traceresponse', `00-${ids.traceId}-${ids.spanId}-${ids.traceFlags & 1 ? '01' : '00'}`);
    };
    let error: ConnectError | undefined;
    let cause: unknown;
    try {
      const res = trace ? await tracing!.runIn(trace.context, () => next(req)) : await next(req);
      named(res.header);
      return res;
    } catch (thrown) {
      cause = thrown;
      error = toConnectError(thrown);
      named(error.metadata);
      throw error;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const code = codeName(error?.code);
      metrics.observeRpc(service, method, code, protocol, seconds);
      const failed = isServerFault(error?.code, cause);
      if (trace) {
        const attributes: Attributes = {
          'rpc.system': 'grpc',
          'rpc.service': service,
          'rpc.method': method,
          'rpc.grpc.status_code': error?.code ?? 0,
          'client.address': req.contextValues.get(peerKey),
        };
        trace.span.setAttributes(attributes);
        // As for REST: every error is an event on the span; only the server's own marks the span failed.
        if (cause !== undefined) trace.span.recordException(cause as Error);
        if (failed) trace.span.setStatus({ code: 2, message: error!.rawMessage }); // SpanStatusCode.ERROR
        trace.span.end();
      }
      if (options.log || failed) {
        const identity = req.contextValues.get(callerKey);
        const line = {
          request_id: requestId,
          // With tracing off, the caller's trace id (if any), so the line still meets the caller's trace.
          trace_id: ids?.traceId ?? TRACEPARENT.exec(req.header.get('traceparent') ?? '')?.[1],
          span_id: ids?.spanId,
          protocol,
          rpc: `${service}/${method}`,
          code,
          duration_ms: Math.round(seconds * 1e6) / 1000,
          remote_addr: req.contextValues.get(peerKey),
          user_agent: req.header.get('user-agent') ?? undefined,
          owner: identity && identity.via !== 'none' ? identity.owner : undefined,
        };
        // An unexpected error is logged with its stack; the client only gets INTERNAL.
        if (failed) logger.error({ ...line, err: cause instanceof ConnectError || cause instanceof HttpProblem ? undefined : cause }, 'rpc failed');
        else logger.info(line, 'rpc completed');
      }
    }
  };
}

/** What the server knows of a call Connect answered before any interceptor ran. */
export interface RefusedCall {
  /** The request path; `service`/`method` only when it names one of ours (metric labels stay bounded). */
  path: string;
  service: string | undefined;
  method: string | undefined;
  code: string;
  protocol: string;
  seconds: number;
  remoteAddr: string | undefined;
  userAgent: string | undefined;
}

/**
 * Counts and logs a call refused by Connect's protocol layer before the interceptors (a message that is no
 * protobuf or over the size limit, an unknown method, a content type it does not speak): the RED metrics see
 * every call, as REST's hooks see every request.
 */
export function refusedCall({ logger, metrics }: CallTelemetryDeps): (call: RefusedCall) => void {
  return (call) => {
    metrics.observeRpc(call.service ?? 'unknown', call.method ?? 'unknown', call.code, call.protocol, call.seconds);
    const line = {
      protocol: call.protocol,
      rpc: call.service ? `${call.service}/${call.method}` : undefined,
      path: call.path.slice(0, 256),
      code: call.code,
      duration_ms: Math.round(call.seconds * 1e6) / 1000,
      remote_addr: call.remoteAddr,
      user_agent: call.userAgent,
    };
    if (call.code === 'INTERNAL' || call.code === 'UNKNOWN') logger.warn(line, 'rpc refused');
    else logger.info(line, 'rpc refused');
  };
}

export interface CallGuardDeps {
  authenticator: Authenticator;
  /** The scope each method needs, by its name in the generated service (`getTodo`). */
  scopes: Record<string, Scope>;
  /** The API's rate limit (undefined: off). */
  rateLimit: ((caller: RateLimitedCaller) => Promise<void>) | undefined;
  /** True while the server sheds load. */
  overloaded: () => boolean;
  overloadedError: () => HttpProblem;
}

export function callGuard({ authenticator, scopes, rateLimit, overloaded, overloadedError }: CallGuardDeps): Interceptor {
  return (next) => async (req) => {
    if (overloaded()) throw overloadedError();
    const scope = scopes[req.method.localName];
    if (scope === undefined) throw new Error(`no scope for ${req.method.name}`);
    const identity = await authorize(authenticator, req.header.get('authorization') ?? undefined, scope);
    req.contextValues.set(callerKey, identity);
    await rateLimit?.({ identity, ip: req.contextValues.get(peerKey) });
    // A call whose deadline has passed (or whose client has gone) starts no work: nothing is half-done for it.
    if (req.signal.aborted) throw ConnectError.from(req.signal.reason, Code.DeadlineExceeded);
    return next(req);
  };
}
