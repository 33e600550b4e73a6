// OpenTelemetry tracing, loaded only when an OTLP endpoint is configured (src/run.ts imports this module then):
// without one, none of the SDK is even read and requests pay nothing. With one: W3C traceparent/tracestate in
// and out, a server span per sampled request, client spans for its database and Redis calls, OTLP/HTTP export
// (protobuf, or JSON) in batches. The build makes this module and the SDK parts it uses a file of their own,
// dist/tracing.cjs (why: scripts/build.mjs).
//
// The standard parts are OpenTelemetry's own: the W3C propagators, the configured sampler (a root request
// under a ratio sampler is decided by the same rule on the id's bytes: ratioBound), the OTLP export delegate
// (timeout, concurrency limit, response handling) and, for http/json, the batch span processor and JSON
// serializer. With http/protobuf, the default, a span is encoded when it ends and waits as bytes in its
// batch (otlp-protobuf.ts, span-batches.ts; the bytes are those OpenTelemetry's serializer writes). The ids
// come from a pool of random hex (IdPool, below), as every request needs two, sampled or not. A span itself is
// a small record of ours (RecordedSpan, a ReadableSpan as the encoder, processor and serializer read it), not
// the SDK's Span: the SDK validates every attribute (a WeakSet per value), consults its self-metrics and builds
// a context per span: a sampled request cost 24–67 µs of CPU that way before any export (docs/DECISIONS.md,
// "Observability"). Every attribute here comes from this code, with a string or number value, so there is
// nothing to validate.
//
// The request's span is passed explicitly (the handlers hand `req.traceContext` to the repository), not
// through an AsyncLocalStorage context manager: on Node 20 that one taxes every promise of the process once
// enabled, and only sampled requests have child spans at all.
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import * as api from '@opentelemetry/api';
import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import * as exporterBase from '@opentelemetry/otlp-exporter-base';
import * as transformer from '@opentelemetry/otlp-transformer';
import * as resources from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import * as sdk from '@opentelemetry/sdk-trace';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import type { Config } from '../config.js';
import { ExportThreadTransport } from './export-thread.js';
import { RequestFrame } from './otlp-protobuf.js';
import { SpanBatches, type EncodedBatch } from './span-batches.js';
import type { Logger } from './logger.js';

export type OtelApi = typeof api;

/** A span others can start under: the server span of a sampled request. */
export interface ParentSpan {
  spanContext(): SpanContext;
}

/**
 * Where a child span goes: the server span of a sampled request. Repository and cache calls take it as their
 * last argument; undefined (tracing off, or the request not sampled) means no span.
 */
export type TraceContext = ParentSpan;

/** A span being recorded. */
export interface ActiveSpan extends ParentSpan {
  /** Records the exception as an event of the span (its status stays as it is). */
  recordException(error: unknown): void;
  /** Records the exception and marks the span failed (status ERROR). */
  fail(error: unknown): void;
  /** Ends the span and hands it on for export; later calls do nothing. */
  end(): void;
}

/** The server span of a sampled request; its attributes are set once, when the response is known. */
export interface ServerSpan extends ActiveSpan {
  /**
   * Ends the span with these attributes. Only a server error (5xx) marks it failed, with the message of the
   * exception recorded, if any: a 4xx is the client's mistake (OpenTelemetry's HTTP conventions).
   */
  endWith(attributes: Attributes, serverError: boolean): void;
}

/** A request's place in its trace: every request has ids; only a sampled one has a span. */
export interface RequestTrace {
  traceId: string;
  spanId: string;
  /** The recording server span of a sampled request; undefined when it is not sampled. */
  span: ServerSpan | undefined;
}

export interface Tracing {
  api: OtelApi;
  /**
   * The trace of a request, under the traceparent of its headers (if any). The configured sampler decides on
   * the parent and the trace id; an unsampled request gets ids only, for its response and log lines.
   */
  startRequest(method: string, route: string | undefined, headers: IncomingHttpHeaders): RequestTrace;
  /** A client span under a sampled request's span; undefined without one (nothing is recorded then). */
  startSpan(parent: ParentSpan | undefined, name: string, kind: SpanKind, attributes: Attributes): ActiveSpan | undefined;
  /** Exports what is buffered and stops the export thread. */
  shutdown(): Promise<void>;
}

type Sampler = sdk.Sampler;

/**
 * The sampler of the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG values (`sampler`), and what decides
 * for a request that continues no trace (`root`): for a parent-based sampler its root sampler, otherwise
 * itself. A request without a valid parent asks `root` directly; ParentBasedSampler would look for the
 * parent's span context in the context and then ask its root, which is the same decision with more steps on
 * every request. When `root` samples by trace id ratio, `rootBound` is its bound (see ratioBound).
 */
function samplers(name: string, arg: number): { sampler: Sampler; root: Sampler; rootBound: number | undefined } {
  const parentBased = (root: Sampler, rootBound?: number) => ({ sampler: new sdk.ParentBasedSampler({ root }), root, rootBound });
  const alone = (sampler: Sampler, rootBound?: number) => ({ sampler, root: sampler, rootBound });
  switch (name) {
    case 'always_on':
      return alone(new sdk.AlwaysOnSampler());
    case 'always_off':
      return alone(new sdk.AlwaysOffSampler());
    case 'traceidratio':
      return alone(new sdk.TraceIdRatioBasedSampler(arg), ratioBound(arg));
    case 'parentbased_always_off':
      return parentBased(new sdk.AlwaysOffSampler());
    case 'parentbased_traceidratio':
      return parentBased(new sdk.TraceIdRatioBasedSampler(arg), ratioBound(arg));
    default:
      return parentBased(new sdk.AlwaysOnSampler());
  }
}

/**
 * OpenTelemetry's TraceIdRatioBasedSampler samples a trace when the XOR of its id's four 32-bit words is below
 * this bound. The pool below computes that word from the id's bytes as it cuts the id, so a root request is
 * decided without the sampler reading the 32 hex digits back (a regular-expression-free validity check and
 * the parse cost ~0.6 µs a request, ~1.5 % of a get by id, side by side: docs/DECISIONS.md, "Observability").
 * A test holds the two decisions equal for random ids at several ratios.
 */
export function ratioBound(ratio: number): number {
  const r = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio));
  return r === 1 ? 2 ** 32 : Math.floor(r * 0xffffffff);
}

function parseHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

/** Milliseconds since the epoch as OpenTelemetry's [seconds, nanoseconds]. */
function hrTime(ms: number): HrTime {
  const seconds = Math.trunc(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

const NOT_ENDED: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
const UNSET: SpanStatus = { code: 0 }; // SpanStatusCode.UNSET
const NO_ATTRIBUTES: Attributes = Object.freeze({});
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
const NO_LINKS = Object.freeze([]) as unknown as ReadableSpan['links'];

/** Bytes of randomness drawn at a time: ids for ~85 requests (a trace id and a span id each). */
const ID_POOL_BYTES = 2048;

/**
 * Trace and span ids cut from a pool of random hex (crypto.randomFillSync, encoded once per pool): a request's
 * two ids are two substrings. OpenTelemetry's RandomIdGenerator makes each id with Math.random, a shared
 * buffer and its own hex encoding; every request has ids, sampled or not, and measured side by side that cost
 * ~3.5 % of a get by id (docs/DECISIONS.md, "Observability"). The all-zero ids are invalid and never handed out.
 */
export class IdPool {
  private readonly bytes = Buffer.allocUnsafe(ID_POOL_BYTES);
  private hex = '';
  private at = 0;

  constructor(
    private readonly invalidTraceId: string,
    private readonly invalidSpanId: string,
  ) {}

  /** A trace id; its words' XOR is `traceWord` until the next call (the ratio sampler's accumulator). */
  traceId(): string {
    const id = this.take(32, this.invalidTraceId);
    const at = (this.at - 32) >>> 1; // the id's first byte
    const bytes = this.bytes;
    this.traceWord = (bytes.readUInt32BE(at) ^ bytes.readUInt32BE(at + 4) ^ bytes.readUInt32BE(at + 8) ^ bytes.readUInt32BE(at + 12)) >>> 0;
    return id;
  }

  traceWord = 0;

  spanId(): string {
    return this.take(16, this.invalidSpanId);
  }

  /**
   * A copy of an id that does not hold on to its pool. A substring of V8 is a view into its parent string, so
   * an id kept by a span waiting for its batch (http/json) would keep the whole 4 KiB pool alive, and every
   * collection in between would copy and then promote it. Pieces shorter than 13 characters are copied
   * instead (V8 makes no views that short), and the id is made of those.
   */
  static detached(id: string): string {
    let copy = id.slice(0, 8);
    for (let at = 8; at < id.length; at += 8) copy += id.slice(at, at + 8);
    return copy;
  }

  /** The next `chars` hex digits of the pool, other than `invalid`. */
  private take(chars: number, invalid: string): string {
    let id: string;
    do {
      if (this.at + chars > this.hex.length) {
        this.hex = randomFillSync(this.bytes).toString('hex');
        this.at = 0;
      }
      id = this.hex.slice(this.at, (this.at += chars));
    } while (id === invalid);
    return id;
  }
}

/** A sampled span's context, with the trace state it inherits, if any. */
function sampledContext(traceId: string, spanId: string, traceState: SpanContext['traceState']): SpanContext {
  return traceState ? { traceId, spanId, traceFlags: 1, traceState } : { traceId, spanId, traceFlags: 1 }; // TraceFlags.SAMPLED
}

/** What every span of the service shares: where it goes when it ends, and what it belongs to. */
interface SpanSink {
  finish(span: RecordedSpan): void;
  resource: Resource;
  scope: InstrumentationScope;
}

/**
 * One span, as the encoder, the batch processor and the OTLP serializers read it (ReadableSpan). One object of
 * a fixed shape; its times come from the monotonic clock, anchored to the wall clock when it starts, as the
 * SDK's are.
 */
class RecordedSpan implements ReadableSpan, ServerSpan {
  ended = false;
  status: SpanStatus = UNSET;
  events: TimedEvent[] = NO_EVENTS;
  /** Declared (undefined) in every span, set in children and continued traces: one shape for all. */
  readonly parentSpanContext?: SpanContext;
  /** performance.now() when the span started and when it ended (NaN until then). */
  private readonly started: number;
  private endedAt = Number.NaN;
  /** Date.now() − performance.now() when the span started. */
  private readonly epochOffset: number;

  constructor(
    private readonly sink: SpanSink,
    readonly name: string,
    readonly kind: SpanKind,
    private readonly context: SpanContext,
    parent: SpanContext | undefined,
    public attributes: Attributes,
  ) {
    if (parent) this.parentSpanContext = parent;
    this.started = performance.now();
    this.epochOffset = Date.now() - this.started;
  }

  // With http/json a span waits up to a second for its batch, and what it holds is copied by the young-generation
  // collections meanwhile, then promoted to the old generation (docs/DECISIONS.md, "Observability"). So what
  // every span has alike is read from the prototype, and the times are kept as numbers and made into
  // OpenTelemetry's [seconds, nanoseconds] pairs when read (by the encoder or the serializer, once).
  get resource(): Resource {
    return this.sink.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this.sink.scope;
  }

  get links(): ReadableSpan['links'] {
    return NO_LINKS;
  }

  get droppedAttributesCount(): number {
    return 0;
  }

  get droppedEventsCount(): number {
    return 0;
  }

  get droppedLinksCount(): number {
    return 0;
  }

  get startTime(): HrTime {
    return hrTime(this.epochOffset + this.started);
  }

  get endTime(): HrTime {
    return this.ended ? hrTime(this.epochOffset + this.endedAt) : NOT_ENDED;
  }

  get duration(): HrTime {
    return this.ended ? hrTime(this.endedAt - this.started) : NOT_ENDED;
  }

  spanContext(): SpanContext {
    return this.context;
  }

  recordException(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    const event: TimedEvent = {
      name: 'exception',
      time: hrTime(this.epochOffset + performance.now()),
      attributes: { 'exception.type': e.name, 'exception.message': e.message, 'exception.stacktrace': e.stack ?? '' },
      droppedAttributesCount: 0,
    };
    this.events = this.events === NO_EVENTS ? [event] : [...this.events, event];
  }

  fail(error: unknown): void {
    this.recordException(error);
    this.status = { code: 2, message: error instanceof Error ? error.message : String(error) }; // SpanStatusCode.ERROR
  }

  endWith(attributes: Attributes, serverError: boolean): void {
    this.attributes = attributes;
    if (serverError && this.status === UNSET) {
      const message = this.events.at(-1)?.attributes?.['exception.message'];
      this.status = typeof message === 'string' ? { code: 2, message } : { code: 2 }; // SpanStatusCode.ERROR
    }
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.endedAt = performance.now();
    this.ended = true;
    this.sink.finish(this);
  }
}

/**
 * Where finished spans go, by OTLP protocol. http/protobuf (the default): each span is encoded when it ends
 * and waits as bytes in its batch (otlp-protobuf.ts, span-batches.ts); http/json: the span waits as it is in
 * OpenTelemetry's batch processor, whose batches OpenTelemetry's JSON serializer writes. Either way the batch
 * goes through OpenTelemetry's exporter (export timeout, concurrency limit, response handling) and the export
 * thread (retries).
 */
function spanSink(
  config: NonNullable<Config['tracing']>,
  serviceVersion: string,
  resource: Resource,
  scope: InstrumentationScope,
  onExportError: (error: unknown) => void,
  logger: Logger,
): SpanSink & { shutdown(): Promise<void> } {
  const json = config.protocol === 'http/json';
  const transport = new ExportThreadTransport(
    config.tracesUrl,
    { ...parseHeaders(config.headers), 'content-type': json ? 'application/json' : 'application/x-protobuf' },
    `todo-service/${serviceVersion}`,
  );
  // otel.component.type, as the semantic conventions name OpenTelemetry's own exporters of each encoding.
  const metrics = <T>(countItems: (request: T) => number) =>
    new exporterBase.ExporterMetrics<T>({
      componentType: json ? 'otlp_http_json_span_exporter' : 'otlp_http_span_exporter',
      metricsHelper: { name: 'span', countItems },
      url: config.tracesUrl,
      meterProvider: undefined,
      responseAttributesFromError: () => ({}),
    });
  const options = { timeoutMillis: config.exportTimeoutMs, concurrencyLimit: 30, compression: 'none' as const };

  if (json) {
    const exporter = new exporterBase.OTLPExporterBase(
      exporterBase.createOtlpNetworkExportDelegate(options, transformer.JsonTraceSerializer, metrics((spans: ReadableSpan[]) => spans.length), transport),
    );
    const processor = new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: config.exportDelayMs });
    return { resource, scope, finish: (span) => processor.onEnd(span), shutdown: () => processor.shutdown() };
  }

  const frame = new RequestFrame(resource, scope);
  const serializer = {
    serializeRequest: (batch: EncodedBatch) => frame.request(batch.spans),
    deserializeResponse: (data: Uint8Array) => transformer.ProtobufTraceSerializer.deserializeResponse(data),
  };
  const exporter = new exporterBase.OTLPExporterBase(
    exporterBase.createOtlpNetworkExportDelegate(options, serializer, metrics((batch: EncodedBatch) => batch.count), transport),
  );
  const batches = new SpanBatches(exporter, {
    delayMs: config.exportDelayMs,
    onExportError,
    onDropped: (count) => logger.warn({ dropped: count }, 'trace export queue full; spans dropped'),
  });
  return { resource, scope, finish: (span) => batches.add(span), shutdown: () => batches.shutdown() };
}

export function startTracing(config: NonNullable<Config['tracing']>, serviceVersion: string, logger: Logger): Tracing {
  // A batch that could not be exported (after the export thread's retries) is one warning in the log, so an
  // unreachable collector shows there: reported by the span batches (protobuf), or through OpenTelemetry's
  // global error handler (the batch processor, with JSON). That handler is process-wide (one service per
  // process in production; in tests the latest started service's logger gets it).
  const onExportError = (error: unknown) => logger.warn({ err: error }, 'trace export failed; the batch is dropped');
  core.setGlobalErrorHandler(onExportError);

  const propagator = new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] });
  api.propagation.setGlobalPropagator(propagator);

  const resource = resources.resourceFromAttributes({
    ...parseHeaders(config.resourceAttributes), // same key=value,… format as the headers
    'service.name': config.serviceName,
    'service.version': serviceVersion,
  });
  const scope = { name: 'todo-service', version: serviceVersion };
  const sink = spanSink(config, serviceVersion, resource, scope, onExportError, logger);
  const heads = samplers(config.sampler, config.samplerArg);
  const { rootBound } = heads;
  const SAMPLED: sdk.SamplingResult = { decision: sdk.SamplingDecision.RECORD_AND_SAMPLED };
  const NOT_SAMPLED: sdk.SamplingResult = { decision: sdk.SamplingDecision.NOT_RECORD };
  // Ids a span keeps: with JSON the span waits for its batch, and must not hold on to the pool (IdPool.detached).
  const kept = config.protocol === 'http/json' ? (id: string) => IdPool.detached(id) : (id: string) => id;
  const ids = new IdPool(api.INVALID_TRACEID, api.INVALID_SPANID);
  const { ROOT_CONTEXT, SpanKind } = api;
  const { SamplingDecision } = sdk;
  const noLinks: never[] = [];
  // "GET /api/todos/:id": one string per method and route template, not a new one per request.
  const names = new Map<string, Map<string, string>>();
  const spanName = (method: string, route: string) => {
    let byMethod = names.get(route);
    if (!byMethod) names.set(route, (byMethod = new Map<string, string>()));
    let name = byMethod.get(method);
    if (name === undefined) byMethod.set(method, (name = `${method} ${route}`));
    return name;
  };

  return {
    api,
    startRequest(method, route, headers) {
      const parent =
        headers.traceparent === undefined && headers.baggage === undefined ? ROOT_CONTEXT : api.propagation.extract(ROOT_CONTEXT, headers);
      const remote = api.trace.getSpanContext(parent);
      const continues = remote !== undefined && api.trace.isSpanContextValid(remote);
      const traceId = continues ? remote.traceId : ids.traceId();
      const spanId = ids.spanId();
      const name = route ? spanName(method, route) : method;
      // The sampler sees what the SDK's tracer would give it: the parent context, the trace id, the span name
      // and kind; no attributes (they are set when the response is known) and no links. A root request under a
      // ratio sampler is decided on the id's bytes instead (ratioBound).
      const decision =
        !continues && rootBound !== undefined
          ? ids.traceWord < rootBound
            ? SAMPLED
            : NOT_SAMPLED
          : (continues ? heads.sampler : heads.root).shouldSample(parent, traceId, name, SpanKind.SERVER, NO_ATTRIBUTES, noLinks);
      if (decision.decision !== SamplingDecision.RECORD_AND_SAMPLED) return { traceId, spanId, span: undefined };
      const context = sampledContext(kept(traceId), kept(spanId), decision.traceState ?? remote?.traceState);
      const span = new RecordedSpan(sink, name, SpanKind.SERVER, context, continues ? remote : undefined, NO_ATTRIBUTES);
      return { traceId, spanId, span };
    },
    startSpan(parent, name, kind, attributes) {
      if (!parent) return undefined;
      const parentContext = parent.spanContext();
      const context = sampledContext(parentContext.traceId, kept(ids.spanId()), parentContext.traceState);
      return new RecordedSpan(sink, name, kind, context, parentContext, attributes);
    },
    async shutdown() {
      // Exports what is buffered, then shuts the exporter and its thread down. A collector that cannot take
      // the last batch costs that batch, not the shutdown.
      await sink.shutdown().catch(onExportError);
      api.propagation.disable();
      core.setGlobalErrorHandler(core.loggingErrorHandler());
    },
  };
}
