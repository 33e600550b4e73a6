// OpenTelemetry tracing, loaded only when an OTLP endpoint is configured: without one, none of the SDK is even
// imported and requests pay nothing. With one: W3C traceparent/tracestate in and out, a server span per
// request, client spans for database and Redis calls, OTLP/HTTP (JSON) export in batches.
//
// The request's trace context is passed explicitly (the handlers hand `req.traceContext` to the repository),
// not through an AsyncLocalStorage context manager: on Node 20 that one taxes every promise of the process
// once enabled, and only sampled requests have child spans at all. See docs/DECISIONS.md, "Observability".
import type { IncomingHttpHeaders } from 'node:http';
import type { Context, Span, SpanOptions } from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import type { Config } from '../config.js';

export type OtelApi = typeof import('@opentelemetry/api');

/**
 * Where a child span goes: the context of a sampled request's span. Repository and cache calls take it as
 * their last argument; undefined (tracing off, or the request not sampled) means no span.
 */
export type TraceContext = Context;

/** A request's place in its trace. Only a sampled request has an SDK span (and a context for children). */
export interface RequestTrace {
  traceId: string;
  spanId: string;
  /** The recording server span of a sampled request, with the context its child spans go under. */
  sampled?: { span: Span; context: Context };
}

export interface Tracing {
  api: OtelApi;
  /**
   * The server span of a request, under the traceparent of its headers (if any). The configured sampler
   * decides first; an unsampled request gets ids only, the SDK never sees it (docs/DECISIONS.md,
   * "Observability": that path was most of the cost of tracing loaded).
   */
  startRequest(name: string, headers: IncomingHttpHeaders): RequestTrace;
  /**
   * Runs fn in a child span of `parent`; the span ends (with error status if fn throws) when fn settles.
   * Without a parent, fn just runs: outside a sampled request such a span would be dropped anyway, or start
   * an orphan trace of its own.
   */
  inSpan<T>(parent: TraceContext | undefined, name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T>;
  shutdown(): Promise<void>;
}

/** Builds a sampler from the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG values. */
function sampler(sdk: typeof import('@opentelemetry/sdk-trace'), name: string, arg: number) {
  switch (name) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return new sdk.TraceIdRatioBasedSampler(arg);
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(arg) });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
}

/**
 * The SDK's random ids, except that the trace id of a request's root span is the one its sampling decision
 * was made on (set just before that span starts).
 */
class RequestIdGenerator implements IdGenerator {
  nextTraceId: string | undefined;
  constructor(readonly random: IdGenerator) {}
  generateTraceId(): string {
    const id = this.nextTraceId ?? this.random.generateTraceId();
    this.nextTraceId = undefined;
    return id;
  }
  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

function parseHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

export async function startTracing(config: Config['tracing'], serviceVersion: string): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const [api, sdk, { OTLPTraceExporter }, core, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);

  api.propagation.setGlobalPropagator(
    new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }),
  );
  const exporter = new OTLPTraceExporter({ url: config.tracesUrl, headers: parseHeaders(config.headers) });
  const headSampler = sampler(sdk, config.sampler, config.samplerArg);
  const ids = new RequestIdGenerator(new sdk.RandomIdGenerator());
  const provider = new sdk.TracerProvider({
    idGenerator: ids,
    resource: resources.resourceFromAttributes({
      ...parseHeaders(config.resourceAttributes), // same key=value,… format as the headers
      'service.name': config.serviceName,
      'service.version': serviceVersion,
    }),
    sampler: headSampler,
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: config.exportDelayMs })],
  });
  api.trace.setGlobalTracerProvider(provider);
  // This provider's tracer, not the global one: the trace id hand-over below needs the SDK that owns `ids`.
  const tracer = provider.getTracer('todo-service', serviceVersion);
  const { ROOT_CONTEXT, SpanKind } = api;
  const { SamplingDecision } = sdk;
  const noAttributes = {};
  const noLinks: never[] = [];

  return {
    api,
    startRequest(name, headers) {
      const parent =
        headers.traceparent === undefined && headers.baggage === undefined ? ROOT_CONTEXT : api.propagation.extract(ROOT_CONTEXT, headers);
      const remote = api.trace.getSpanContext(parent);
      const continues = remote !== undefined && api.trace.isSpanContextValid(remote);
      const traceId = continues ? remote.traceId : ids.random.generateTraceId();
      // The same call the SDK makes in startSpan, with the same arguments: the standard samplers decide on the
      // parent and the trace id alone, so a request they sample here they sample there too.
      if (headSampler.shouldSample(parent, traceId, name, SpanKind.SERVER, noAttributes, noLinks).decision === SamplingDecision.NOT_RECORD) {
        return { traceId, spanId: ids.random.generateSpanId() };
      }
      if (!continues) ids.nextTraceId = traceId;
      let span: Span;
      try {
        span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
      } finally {
        ids.nextTraceId = undefined; // never left for another span, whatever startSpan did
      }
      return { traceId, spanId: span.spanContext().spanId, sampled: { span, context: api.trace.setSpan(parent, span) } };
    },
    async inSpan(parent, name, options, fn) {
      if (!parent) return fn();
      const span = tracer.startSpan(name, options, parent);
      try {
        return await fn();
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
    async shutdown() {
      await provider.shutdown();
      api.trace.disable();
      api.propagation.disable();
    },
  };
}
