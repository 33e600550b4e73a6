// OTLP protobuf encoding of finished spans, one span at a time, as each ends.
//
// OpenTelemetry's batch processor keeps every finished span, as the JavaScript objects it is made of, until its
// batch is exported up to a second later; by then the span has outlived the young generation's collections and
// been promoted, and OpenTelemetry's serializer then walks it twice (a size estimate, then the write). Measured
// side by side at 10 % sampling (docs/DECISIONS.md, "Observability"), keeping the spans until their batch cost
// ~3 % of a get by id's throughput and serializing them another ~3 %. Here a span is written into its batch's
// bytes the moment it ends, while its fields are still in the cache, and nothing of it stays on the heap.
//
// The bytes are the same as OpenTelemetry's ProtobufTraceSerializer writes for the same spans (the field order,
// which fields are always written and the span flags follow it; a test compares the two byte for byte), so a
// collector sees no difference. The http/json protocol still goes through OpenTelemetry's batch processor and
// JSON serializer (src/telemetry/tracing.ts).
import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** Span flags (OTLP): the low byte is the W3C trace flags; these bits say whether the parent is remote. */
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

const encoder = new TextEncoder();

/** A protobuf writer over a buffer that grows as needed. */
export class ProtoWriter {
  bytes: Uint8Array;
  pos = 0;

  constructor(capacity = 16_384) {
    this.bytes = new Uint8Array(capacity);
  }

  /** The bytes written so far, as a view (not a copy). */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  private reserve(size: number): void {
    const needed = this.pos + size;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const bytes = new Uint8Array(capacity);
    bytes.set(this.bytes.subarray(0, this.pos));
    this.bytes = bytes;
  }

  tag(field: number, wire: number): void {
    const key = (field << 3) | wire;
    if (key < 128) {
      this.reserve(1);
      this.bytes[this.pos++] = key;
    } else this.varint(key);
  }

  /** A non-negative integer below 2⁵³. */
  varint(value: number): void {
    this.reserve(10);
    const bytes = this.bytes;
    let pos = this.pos;
    if (value < 4_294_967_296) {
      let v = value >>> 0;
      while (v > 127) {
        bytes[pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      bytes[pos++] = v;
    } else {
      let low = value >>> 0;
      let high = Math.floor(value / 4_294_967_296) >>> 0;
      while (high > 0 || low > 127) {
        bytes[pos++] = (low & 127) | 128;
        low = ((low >>> 7) | (high << 25)) >>> 0;
        high >>>= 7;
      }
      bytes[pos++] = low;
    }
    this.pos = pos;
  }

  /** A signed integer of at most 53 bits, as protobuf's int64 (two's complement, ten bytes when negative). */
  int64(value: number): void {
    if (value >= 0) return this.varint(value);
    this.reserve(10);
    const magnitude = -value;
    let low = magnitude >>> 0;
    let high = Math.floor(magnitude / 4_294_967_296) >>> 0;
    low = ~low >>> 0;
    high = ~high >>> 0;
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
    const bytes = this.bytes;
    for (let i = 0; i < 9; i++) {
      bytes[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    bytes[this.pos++] = low & 1;
  }

  fixed32(value: number): void {
    this.reserve(4);
    const bytes = this.bytes;
    bytes[this.pos++] = value & 255;
    bytes[this.pos++] = (value >>> 8) & 255;
    bytes[this.pos++] = (value >>> 16) & 255;
    bytes[this.pos++] = (value >>> 24) & 255;
  }

  fixed64(low: number, high: number): void {
    this.fixed32(low >>> 0);
    this.fixed32(high >>> 0);
  }

  double(value: number): void {
    this.reserve(8);
    new DataView(this.bytes.buffer, this.bytes.byteOffset).setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** A string as UTF-8, length-delimited. ASCII (every string here, nearly) is copied as it is read. */
  string(value: string): void {
    const length = value.length;
    if (length > 127) return this.raw(encoder.encode(value));
    this.reserve(length + 1);
    const bytes = this.bytes;
    const start = this.pos;
    let pos = start + 1;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 127) return this.raw(encoder.encode(value));
      bytes[pos++] = code;
    }
    bytes[start] = length;
    this.pos = pos;
  }

  /** Length-delimited bytes. */
  raw(value: Uint8Array): void {
    this.varint(value.length);
    this.reserve(value.length);
    this.bytes.set(value, this.pos);
    this.pos += value.length;
  }

  /** A hex id (trace or span id) as its bytes, length-delimited. */
  hex(id: string): void {
    const length = id.length >>> 1;
    this.varint(length);
    this.reserve(length);
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) bytes[this.pos++] = (nibble(id.charCodeAt(2 * i)) << 4) | nibble(id.charCodeAt(2 * i + 1));
  }

  /**
   * Starts a length-delimited message: one byte is reserved for its length, which end() writes, moving the
   * message when its length needs more (messages are mostly shorter than 128 bytes).
   */
  begin(): number {
    this.reserve(1);
    return this.pos++;
  }

  end(at: number): void {
    const length = this.pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.reserve(size - 1);
      this.bytes.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    const bytes = this.bytes;
    let value = length;
    let i = at;
    while (value > 127) {
      bytes[i++] = (value & 127) | 128;
      value >>>= 7;
    }
    bytes[i] = value;
  }
}

function nibble(code: number): number {
  return code <= 57 ? code - 48 : code <= 70 ? code - 55 : code - 87; // 0-9, A-F, a-f
}

/** Nanoseconds since the epoch of an HrTime, as fixed64: split so that no step exceeds 2⁵³. */
function time(writer: ProtoWriter, [seconds, nanos]: HrTime): void {
  const lowSeconds = seconds % 65_536;
  const highSeconds = Math.floor(seconds / 65_536);
  const fromLow = lowSeconds * 1e9; // < 2⁴⁶
  const fromHigh = highSeconds * 1e9; // counts units of 2¹⁶ ns
  const low = (fromLow % 4_294_967_296) + (fromHigh % 65_536) * 65_536 + nanos;
  const high = Math.floor(fromLow / 4_294_967_296) + Math.floor(fromHigh / 65_536) + Math.floor(low / 4_294_967_296);
  writer.fixed64(low % 4_294_967_296, high);
}

function anyValue(writer: ProtoWriter, value: AttributeValue): void {
  switch (typeof value) {
    case 'string':
      writer.tag(1, WIRE_BYTES);
      writer.string(value);
      return;
    case 'boolean':
      writer.tag(2, WIRE_VARINT);
      writer.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isSafeInteger(value)) {
        writer.tag(3, WIRE_VARINT);
        writer.int64(value);
      } else {
        writer.tag(4, WIRE_FIXED64);
        writer.double(value);
      }
      return;
    default: {
      // An array of primitives (ArrayValue); the service sets none, but the type allows them.
      writer.tag(5, WIRE_BYTES);
      const array = writer.begin();
      for (const item of value as readonly (string | number | boolean | null | undefined)[]) {
        writer.tag(1, WIRE_BYTES);
        const element = writer.begin();
        if (item != null) anyValue(writer, item);
        writer.end(element);
      }
      writer.end(array);
    }
  }
}

/** Repeated KeyValue in `field`; undefined values are left out. */
function attributes(writer: ProtoWriter, field: number, values: Attributes): void {
  for (const key in values) {
    const value = values[key];
    if (value === undefined || !Object.prototype.hasOwnProperty.call(values, key)) continue;
    writer.tag(field, WIRE_BYTES);
    const pair = writer.begin();
    writer.tag(1, WIRE_BYTES);
    writer.string(key);
    writer.tag(2, WIRE_BYTES);
    const any = writer.begin();
    anyValue(writer, value);
    writer.end(any);
    writer.end(pair);
  }
}

/** One span as an entry of ScopeSpans.spans (field 2): its tag, its length and the Span message. */
export function writeSpan(writer: ProtoWriter, span: ReadableSpan): void {
  writer.tag(2, WIRE_BYTES);
  const message = writer.begin();
  const context = span.spanContext();
  writer.tag(1, WIRE_BYTES);
  writer.hex(context.traceId);
  writer.tag(2, WIRE_BYTES);
  writer.hex(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    writer.tag(3, WIRE_BYTES);
    writer.string(traceState);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    writer.tag(4, WIRE_BYTES);
    writer.hex(parent.spanId);
  }
  writer.tag(5, WIRE_BYTES);
  writer.string(span.name);
  writer.tag(6, WIRE_VARINT);
  writer.varint(span.kind + 1); // OTLP counts SpanKind from UNSPECIFIED = 0
  writer.tag(7, WIRE_FIXED64);
  time(writer, span.startTime);
  writer.tag(8, WIRE_FIXED64);
  time(writer, span.endTime);
  attributes(writer, 9, span.attributes);
  writer.tag(10, WIRE_VARINT);
  writer.varint(span.droppedAttributesCount);
  for (const event of span.events) {
    writer.tag(11, WIRE_BYTES);
    const at = writer.begin();
    writer.tag(1, WIRE_FIXED64);
    time(writer, event.time);
    writer.tag(2, WIRE_BYTES);
    writer.string(event.name);
    if (event.attributes) attributes(writer, 3, event.attributes);
    writer.tag(4, WIRE_VARINT);
    writer.varint(event.droppedAttributesCount ?? 0);
    writer.end(at);
  }
  writer.tag(12, WIRE_VARINT);
  writer.varint(span.droppedEventsCount);
  // No links: the service makes none (RecordedSpan has an empty list).
  writer.tag(14, WIRE_VARINT);
  writer.varint(span.droppedLinksCount);
  writer.tag(15, WIRE_BYTES);
  const status = writer.begin();
  if (span.status.message) {
    writer.tag(2, WIRE_BYTES);
    writer.string(span.status.message);
  }
  writer.tag(3, WIRE_VARINT);
  writer.varint(span.status.code);
  writer.end(status);
  writer.tag(16, WIRE_FIXED32);
  writer.fixed32((context.traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE | (parent?.isRemote ? FLAGS_IS_REMOTE : 0));
  writer.end(message);
}

/**
 * What comes before a batch's spans in an ExportTraceServiceRequest, the same for every batch: the resource
 * and the instrumentation scope. `request(spans)` frames the spans' bytes (entries written by writeSpan) into
 * the request, one new buffer of its exact size (the transport moves it to the export thread).
 */
export class RequestFrame {
  private readonly resource: Uint8Array;
  private readonly scope: Uint8Array;

  constructor(resource: Resource, scope: InstrumentationScope) {
    const writer = new ProtoWriter(1024);
    writer.tag(1, WIRE_BYTES); // ResourceSpans.resource
    const r = writer.begin();
    attributes(writer, 1, resource.attributes);
    writer.tag(2, WIRE_VARINT); // dropped_attributes_count
    writer.varint(0);
    writer.end(r);
    this.resource = writer.written().slice();

    writer.pos = 0;
    writer.tag(1, WIRE_BYTES); // ScopeSpans.scope
    const s = writer.begin();
    writer.tag(1, WIRE_BYTES);
    writer.string(scope.name);
    if (scope.version) {
      writer.tag(2, WIRE_BYTES);
      writer.string(scope.version);
    }
    writer.end(s);
    this.scope = writer.written().slice();
  }

  request(spans: Uint8Array): Uint8Array {
    const scopeSpans = this.scope.length + spans.length;
    const resourceSpans = this.resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const writer = new ProtoWriter(1 + varintSize(resourceSpans) + resourceSpans);
    writer.tag(1, WIRE_BYTES); // ExportTraceServiceRequest.resource_spans
    writer.varint(resourceSpans);
    writer.bytes.set(this.resource, writer.pos);
    writer.pos += this.resource.length;
    writer.tag(2, WIRE_BYTES); // ResourceSpans.scope_spans
    writer.varint(scopeSpans);
    writer.bytes.set(this.scope, writer.pos);
    writer.pos += this.scope.length;
    writer.bytes.set(spans, writer.pos);
    return writer.bytes;
  }
}

function varintSize(value: number): number {
  let size = 1;
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) size++;
  return size;
}
