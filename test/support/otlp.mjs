// Reading OTLP/HTTP trace export requests, for the receivers of the tests and the benchmark's sink. The
// service sends protobuf by default (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`) and JSON when asked; both
// come out of here as the spans of the OTLP JSON encoding (hex ids, attributes as `{ key, value }`), so a
// receiver reads them one way.
//
// The protobuf messages are declared below with the fields receivers look at, by their numbers in
// opentelemetry-proto's trace.proto, common.proto and resource.proto (fields left out are skipped on decoding).

import protobuf from 'protobufjs';

const repeated = (type, id) => ({ rule: 'repeated', type, id });

const root = protobuf.Root.fromJSON({
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: repeated('ResourceSpans', 1) } },
    ResourceSpans: { fields: { resource: { type: 'Resource', id: 1 }, scopeSpans: repeated('ScopeSpans', 2) } },
    Resource: { fields: { attributes: repeated('KeyValue', 1) } },
    ScopeSpans: { fields: { scope: { type: 'InstrumentationScope', id: 1 }, spans: repeated('Span', 2) } },
    InstrumentationScope: { fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } } },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        traceState: { type: 'string', id: 3 },
        parentSpanId: { type: 'bytes', id: 4 },
        name: { type: 'string', id: 5 },
        kind: { type: 'int32', id: 6 },
        startTimeUnixNano: { type: 'fixed64', id: 7 },
        endTimeUnixNano: { type: 'fixed64', id: 8 },
        attributes: repeated('KeyValue', 9),
        events: repeated('Event', 11),
        status: { type: 'Status', id: 15 },
      },
    },
    Event: { fields: { timeUnixNano: { type: 'fixed64', id: 1 }, name: { type: 'string', id: 2 }, attributes: repeated('KeyValue', 3) } },
    Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
    KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
    AnyValue: {
      oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue'] } },
      fields: {
        stringValue: { type: 'string', id: 1 },
        boolValue: { type: 'bool', id: 2 },
        intValue: { type: 'int64', id: 3 },
        doubleValue: { type: 'double', id: 4 },
      },
    },
  },
});
const ExportTraceServiceRequest = root.lookupType('ExportTraceServiceRequest');

const hex = (bytes) => Buffer.from(bytes).toString('hex');

/** A decoded protobuf span in the JSON encoding's shape: empty fields left out, as the JSON leaves them. */
function jsonShaped(span) {
  // int64 values arrive as strings (longs: String, so that nanosecond times keep every digit); the JSON
  // encoding has attribute integers as numbers.
  const anyValue = (v = {}) => (v.intValue === undefined ? v : { ...v, intValue: Number(v.intValue) });
  const attributes = (list) => (list ?? []).map(({ key, value }) => ({ key, value: anyValue(value) }));
  const shaped = {
    traceId: hex(span.traceId),
    spanId: hex(span.spanId),
    name: span.name ?? '',
    kind: span.kind ?? 0,
    startTimeUnixNano: String(span.startTimeUnixNano ?? 0),
    endTimeUnixNano: String(span.endTimeUnixNano ?? 0),
    attributes: attributes(span.attributes),
    events: (span.events ?? []).map((e) => ({ name: e.name ?? '', timeUnixNano: String(e.timeUnixNano ?? 0), attributes: attributes(e.attributes) })),
    status: { code: span.status?.code ?? 0, ...(span.status?.message && { message: span.status.message }) },
  };
  if (span.parentSpanId?.length) shaped.parentSpanId = hex(span.parentSpanId);
  if (span.traceState) shaped.traceState = span.traceState;
  return shaped;
}

/**
 * The spans of one export request body, by its content type: `application/x-protobuf` or `application/json`.
 * Throws on a body that is neither.
 */
export function decodeTraceRequest(body, contentType = '') {
  if (contentType.startsWith('application/json')) {
    const payload = JSON.parse(Buffer.from(body).toString('utf8'));
    return (payload.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []));
  }
  if (!contentType.startsWith('application/x-protobuf')) throw new Error(`not an OTLP/HTTP content type: ${contentType || '(none)'}`);
  const message = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, defaults: false });
  return (message.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map(jsonShaped)));
}
