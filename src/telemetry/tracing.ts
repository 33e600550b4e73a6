// OpenTelemetry tracing as its SDK ships it, loaded only when an OTLP endpoint is configured (src/run.ts imports
// this module then; the build makes it dist/tracing.cjs, see scripts/build.mjs). A TracerProvider with the
// configured sampler and a BatchSpanProcessor feeding the OTLP/HTTP exporter (protobuf by default, or JSON),
// W3C trace context (and baggage) in, and the AsyncLocalStorage context manager carrying the request's span to the spans of
// its database and Redis calls.
//
// The settings come from src/config.ts (the standard OTEL_* names, validated there with the rest of the
// configuration) and are handed to the SDK explicitly: a test runs the service with an environment of its own.
import type { IncomingHttpHeaders } from 'node:http';
import { context, defaultTextMapGetter, diag, DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator, loggingErrorHandler, parseKeyPairsIntoRecord, setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import type { Config } from '../config.js';
import type { Logger } from './logger.js';

/** A request's server span and the context in which it is the active span. */
export interface RequestTrace {
  span: Span;
  context: Context;
  /** The message of the last error the request raised: a 5xx marks the span failed with it. */
  error: string | undefined;
}

export interface Tracing {
  /**
   * The server span of a request, under the caller's traceparent if there is one. Sampled or not it has its
   * ids (span.spanContext()), which the response and the log lines name; only a sampled one is exported.
   */
  startRequest(name: string, headers: IncomingHttpHeaders): RequestTrace;
  /** Calls `fn` in `ctx`: spans started in it, and in what it awaits, are children of the request's span. */
  runIn<T>(ctx: Context, fn: () => T): T;
  /** Runs `call` in a client span (database, Redis) under the active span; with none active, just runs it. */
  clientSpan<T>(name: string, attributes: Attributes, call: () => Promise<T>): Promise<T>;
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>;
}

/** The sampler of the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG values. */
function sampler(name: string, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

export function startTracing(config: NonNullable<Config['tracing']>, serviceVersion: string, logger: Logger): Tracing {
  // A batch that could not be exported, after the exporter's retries, is one warning in the log. The SDK
  // reports it through its global error handler, which is process-wide (one service per process in
  // production; in tests, the latest started service's logger gets it).
  const onExportError = (error: unknown) => logger.warn({ err: error }, 'trace export failed; the batch is dropped');
  setGlobalErrorHandler(onExportError);
  // The SDK's own warnings and errors go to the log too: spans dropped from a full queue (a slow or absent
  // collector), a collector's partial success.
  const toLog = (level: 'warn' | 'error') => (message: string) => logger[level](`opentelemetry: ${message}`);
  const quiet = () => {};
  diag.setLogger({ error: toLog('error'), warn: toLog('warn'), info: quiet, debug: quiet, verbose: quiet }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  // The context manager is process-wide too: the first service of a process to start tracing registers it.
  const ownsContextManager = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  const exporterOptions = {
    url: config.tracesUrl,
    headers: parseKeyPairsIntoRecord(config.headers),
    timeoutMillis: config.exportTimeoutMs,
    userAgent: `todo-service/${serviceVersion}`,
  };
  const exporter = config.protocol === 'http/json' ? new JsonExporter(exporterOptions) : new ProtobufExporter(exporterOptions);
  const provider = new TracerProvider({
    sampler: sampler(config.sampler, config.samplerArg),
    resource: resourceFromAttributes({
      ...parseKeyPairsIntoRecord(config.resourceAttributes),
      'service.name': config.serviceName,
      'service.version': serviceVersion,
    }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.exportDelayMs, exportTimeoutMillis: config.exportTimeoutMs })],
  });
  const tracer = provider.getTracer('todo-service', serviceVersion);
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

  return {
    startRequest(name, headers) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
      return { span, context: trace.setSpan(parent, span), error: undefined };
    },
    runIn: (ctx, fn) => context.with(ctx, fn),
    async clientSpan(name, attributes, call) {
      if (!trace.getActiveSpan()) return call(); // no request, no span (a scrape's count of the todos)
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
      try {
        return await call();
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
    async shutdown() {
      // Exports what is buffered. A collector that cannot take the last batch costs that batch, not the shutdown.
      await provider.shutdown().catch(onExportError);
      if (ownsContextManager) context.disable();
      setGlobalErrorHandler(loggingErrorHandler());
      diag.disable();
    },
  };
}
