// The span export path in pieces: the protobuf encoding of spans as they end (src/telemetry/otlp-protobuf.ts)
// against OpenTelemetry's own serializer, byte for byte; the batching rules (src/telemetry/span-batches.ts);
// and the root sampling decision taken from the id pool's bytes against OpenTelemetry's ratio sampler. The
// whole path, service to collector, is tested in tracing.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attributes, HrTime, SpanContext } from '@opentelemetry/api';
import { createTraceState, INVALID_SPANID, INVALID_TRACEID } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SamplingDecision, TraceIdRatioBasedSampler, type ReadableSpan, type TimedEvent } from '@opentelemetry/sdk-trace';
import { ProtoWriter, RequestFrame, writeSpan } from '../src/telemetry/otlp-protobuf.js';
import { SpanBatches, type BatchExporter, type EncodedBatch } from '../src/telemetry/span-batches.js';
import { IdPool, ratioBound } from '../src/telemetry/tracing.js';
// @ts-expect-error: the benchmark is plain JavaScript without type declarations
import * as otlp from '../bench/lib/otlp.mjs';

const { decodeTraceRequest } = otlp as { decodeTraceRequest: (body: Buffer, contentType: string) => { name: string; attributes: unknown[] }[] };

const resource = resourceFromAttributes({ 'service.name': 'todo-service', 'service.version': '1.2.3', 'deployment.environment': 'test' });
const scope = { name: 'todo-service', version: '1.2.3' };

interface SpanInit {
  name: string;
  kind?: number;
  context: SpanContext;
  parent?: SpanContext;
  start?: HrTime;
  end?: HrTime;
  attributes?: Attributes;
  events?: TimedEvent[];
  status?: { code: number; message?: string };
}

/** A finished span as OpenTelemetry's exporters read it. */
function span(init: SpanInit): ReadableSpan {
  const start = init.start ?? [1_765_000_000, 123_456_789];
  const end = init.end ?? [1_765_000_000, 987_654_321];
  return {
    name: init.name,
    kind: init.kind ?? 1,
    spanContext: () => init.context,
    ...(init.parent && { parentSpanContext: init.parent }),
    startTime: start,
    endTime: end,
    duration: [0, 0],
    status: init.status ?? { code: 0 },
    attributes: init.attributes ?? {},
    links: [],
    events: init.events ?? [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Every shape of span the service makes, and values at the edges of the encoding. */
function sampleSpans(): ReadableSpan[] {
  const trace = '0af7651916cd43dd8448eb211c80319c';
  const server: SpanContext = { traceId: trace, spanId: 'b7ad6b7169203331', traceFlags: 1 };
  return [
    // A root request span, its attributes as endServerSpan sets them.
    span({
      name: 'GET /api/todos/:id',
      context: server,
      attributes: {
        'http.request.method': 'GET',
        'url.path': '/api/todos/42',
        'url.scheme': 'http',
        'client.address': '127.0.0.1',
        'user_agent.original': '',
        'http.response.status_code': 200,
        'http.route': '/api/todos/:id',
      },
    }),
    // Its database span (a child: the parent is local).
    span({
      name: 'get todos',
      kind: 2,
      context: { traceId: trace, spanId: '00f067aa0ba902b7', traceFlags: 1 },
      parent: server,
      attributes: { 'db.system.name': 'sqlite', 'db.operation.name': 'get', 'db.collection.name': 'todos' },
    }),
    // A continued trace: a remote parent and a trace state.
    span({
      name: 'POST /api/todos',
      context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: 'a3ce929d0e0e4736', traceFlags: 1, traceState: createTraceState('vendor=abc,other=x1') },
      parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true },
    }),
    // A failed request: an exception event and an error status with a message.
    span({
      name: 'PUT /api/todos/:id',
      context: { traceId: 'ffffffffffffffffffffffffffffffff', spanId: 'ffffffffffffffff', traceFlags: 1 },
      status: { code: 2, message: 'database is locked' },
      events: [
        {
          name: 'exception',
          time: [1_765_000_000, 999_999_999],
          attributes: { 'exception.type': 'Error', 'exception.message': 'database is locked', 'exception.stacktrace': `Error: database is locked\n${'    at frame\n'.repeat(20)}` },
          droppedAttributesCount: 0,
        },
      ],
    }),
    // Values at the edges: non-ASCII, a string longer than 127 bytes, negative and large integers, a double, a
    // boolean, times at the epoch and far out, an unmatched request's span without a route.
    span({
      name: 'GET',
      context: { traceId: '00000000000000000000000000000001', spanId: '0000000000000001', traceFlags: 1 },
      start: [0, 0],
      end: [4_102_444_800, 1],
      attributes: {
        'url.path': '/api/todos/ünïcødé/✓',
        'user_agent.original': 'x'.repeat(300),
        negative: -1,
        'big.negative': -(2 ** 40) - 7,
        big: 2 ** 52 + 1,
        ratio: 0.25,
        flag: true,
        off: false,
      },
    }),
  ];
}

/** Our request for `spans`: each encoded as it would end, then framed. */
function ourRequest(spans: ReadableSpan[]): Uint8Array {
  const writer = new ProtoWriter(64); // small, so the buffer grows and messages move while written
  for (const s of spans) writeSpan(writer, s);
  return new RequestFrame(resource, scope).request(writer.written());
}

describe('OTLP protobuf encoding of spans', () => {
  it('writes the same bytes as OpenTelemetry\'s serializer, span by span and as one request', () => {
    const spans = sampleSpans();
    for (const s of spans) {
      assert.deepEqual(Buffer.from(ourRequest([s])), Buffer.from(ProtobufTraceSerializer.serializeRequest([s])!), `span "${s.name}"`);
    }
    assert.deepEqual(Buffer.from(ourRequest(spans)), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));
  });

  it('the request decodes as OTLP (protobufjs) with every span and its attributes', () => {
    const spans = sampleSpans();
    const decoded = decodeTraceRequest(Buffer.from(ourRequest(spans)), 'application/x-protobuf');
    assert.deepEqual(decoded.map((s) => s.name), spans.map((s) => s.name));
    assert.deepEqual(decoded.map((s) => s.attributes.length), spans.map((s) => Object.keys(s.attributes).length));
  });

  it('a request of many spans has lengths past one varint byte at every level', () => {
    const spans = Array.from({ length: 300 }, () => sampleSpans()).flat();
    const ours = ourRequest(spans);
    assert.ok(ours.length > 100_000);
    assert.deepEqual(Buffer.from(ours), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!));
  });
});

/** An exporter that records batches and answers when told to. */
function recordingExporter() {
  const batches: { count: number; names: string[]; done: (result: { code: number; error?: Error }) => void }[] = [];
  const frame = new RequestFrame(resource, scope);
  const exporter: BatchExporter & { shutdowns: number } = {
    shutdowns: 0,
    export(batch: EncodedBatch, done) {
      const names = decodeTraceRequest(Buffer.from(frame.request(batch.spans)), 'application/x-protobuf').map((s) => s.name);
      batches.push({ count: batch.count, names, done });
    },
    shutdown() {
      this.shutdowns++;
      return Promise.resolve();
    },
  };
  return { exporter, batches };
}

const named = (name: string) => span({ name, context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 } });
const unexpected = (what: unknown) => assert.fail(`unexpected call with ${String(what)}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('span batches', () => {
  it('a full batch leaves at once, a partial one after the delay; one export runs at a time', async () => {
    const { exporter, batches } = recordingExporter();
    const queue = new SpanBatches(exporter, { delayMs: 50, maxBatch: 3, onExportError: unexpected, onDropped: unexpected });
    for (const n of ['a', 'b', 'c']) queue.add(named(n));
    assert.deepEqual(batches.map((b) => b.names), [['a', 'b', 'c']], 'the full batch is exported without waiting');
    for (const n of ['d', 'e', 'f', 'g']) queue.add(named(n));
    await sleep(120);
    assert.equal(batches.length, 1, 'nothing else leaves while the first export runs');
    batches[0]!.done({ code: 0 });
    assert.deepEqual(batches[1]?.names, ['d', 'e', 'f'], 'the batch that filled meanwhile follows at once');
    batches[1].done({ code: 0 });
    assert.equal(batches.length, 2, 'the rest waits for the delay');
    await sleep(120);
    assert.deepEqual(batches[2]?.names, ['g']);
    batches[2].done({ code: 0 });
  });

  it('beyond the queue limit spans are dropped and counted, and a failed export is reported', async () => {
    const { exporter, batches } = recordingExporter();
    const dropped: number[] = [];
    const errors: Error[] = [];
    const queue = new SpanBatches(exporter, {
      delayMs: 10_000,
      maxBatch: 2,
      maxQueue: 4,
      onExportError: (e) => errors.push(e),
      onDropped: (n) => dropped.push(n),
    });
    for (let i = 0; i < 9; i++) queue.add(named(`s${i}`)); // 2 exporting, 4 waiting, 3 dropped
    assert.deepEqual(batches.map((b) => b.names), [['s0', 's1']]);
    assert.deepEqual(dropped, [], 'drops are reported when a span is taken again');
    batches[0]!.done({ code: 1, error: new Error('collector answered 400') });
    assert.deepEqual(errors.map((e) => e.message), ['collector answered 400']);
    assert.deepEqual(batches[1]?.names, ['s2', 's3']);
    queue.add(named('s9'));
    assert.deepEqual(dropped, [3]);
    batches[1].done({ code: 0 });
    assert.deepEqual(batches[2]?.names, ['s4', 's5']);
    batches[2].done({ code: 0 });
    const flushed = queue.flush();
    assert.deepEqual(batches[3]?.names, ['s9'], 'flush sends what waits without the delay');
    batches[3].done({ code: 0 });
    await flushed;
  });

  it('shutdown exports what waits, then shuts the exporter down; later spans are ignored', async () => {
    const { exporter, batches } = recordingExporter();
    const queue = new SpanBatches(exporter, { delayMs: 10_000, onExportError: unexpected, onDropped: unexpected });
    queue.add(named('last'));
    const stopped = queue.shutdown();
    assert.deepEqual(batches[0]?.names, ['last']);
    assert.equal(exporter.shutdowns, 0, 'not before the last batch is out');
    batches[0].done({ code: 0 });
    await stopped;
    assert.equal(exporter.shutdowns, 1);
    queue.add(named('late'));
    assert.equal(batches.length, 1);
  });
});

describe('root sampling from the id pool', () => {
  it('decides as OpenTelemetry\'s TraceIdRatioBasedSampler on the same trace id, at every ratio', () => {
    const ids = new IdPool(INVALID_TRACEID, INVALID_SPANID);
    for (const ratio of [0, 0.1, 0.5, 0.999, 1]) {
      const sampler = new TraceIdRatioBasedSampler(ratio);
      const bound = ratioBound(ratio);
      let sampled = 0;
      for (let i = 0; i < 5000; i++) {
        const traceId = ids.traceId();
        const ours = ids.traceWord < bound;
        ids.spanId(); // as a request takes them: the span id may refill the pool in between
        const theirs = sampler.shouldSample(undefined, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
        assert.equal(ours, theirs, `ratio ${ratio}, trace id ${traceId}`);
        if (ours) sampled++;
      }
      const share = sampled / 5000;
      assert.ok(Math.abs(share - ratio) < 0.03, `ratio ${ratio}: sampled ${share}`);
    }
  });
});
