// Tracing of gRPC calls, end to end with the OTLP receiver: the call's span continues the W3C trace context of
// its metadata, the database span is its child, the response metadata and the log line name the trace; a failure
// inside the server is INTERNAL with no detail for the client, a failed span and a logged stack.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { startService, waitFor, type TestService } from '../support/helpers.js';
import { connectClient } from '../support/grpc.js';
import { otlpReceiver, type OtlpSpan, type Receiver } from '../support/otlp-receiver.js';

const attr = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value;

let receiver: Receiver;
let svc: TestService;
before(async () => {
  receiver = await otlpReceiver();
  svc = await startService({ GRPC_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
});
after(async () => {
  await svc.dispose();
  await receiver.close();
});

test("the call's span continues the traceparent metadata; the database span is its child; metadata and log name it", async () => {
  const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '10f067aa0ba902b7';
  let headers = new Headers();
  const { todo } = await connectClient(svc.grpcUrl!).createTodo(
    { title: 'traced over gRPC' },
    { headers: { traceparent: `00-${traceId}-${parentId}-01` }, onHeader: (h) => (headers = h) },
  );
  assert.ok(todo);
  const server = await waitFor('the call span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'todo.v1.TodoService/CreateTodo'));
  assert.equal(server.parentSpanId, parentId);
  assert.equal(server.kind, 2, 'SERVER');
  assert.deepEqual(attr(server, 'rpc.system'), { stringValue: 'grpc' });
  assert.deepEqual(attr(server, 'rpc.method'), { stringValue: 'CreateTodo' });
  assert.deepEqual(attr(server, 'rpc.grpc.status_code'), { intValue: 0 });
  assert.equal(headers.get('traceresponse'), `00-${traceId}-${server.spanId}-01`);

  const db = await waitFor('the database span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'create todos'));
  assert.equal(db.parentSpanId, server.spanId);
  const line = svc.logs.find((l) => l.msg === 'rpc completed' && l.request_id === headers.get('x-request-id'));
  assert.deepEqual([line?.trace_id, line?.span_id], [traceId, server.spanId]);
});

test('a failure inside the server: INTERNAL without internals, the span failed, the stack in the log', async () => {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(svc.dbPath);
  db.exec('ALTER TABLE todos RENAME TO todos_gone');
  db.close();
  try {
    const error = (await connectClient(svc.grpcUrl!).getTodo({ id: 1n }).catch((e: unknown) => e)) as ConnectError;
    assert.equal(error.code, Code.Internal);
    assert.equal(error.rawMessage, 'The server could not handle the call. It has been logged.');
    const traceId = (error.metadata.get('traceresponse') ?? '').split('-')[1];
    const server = await waitFor('the call span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'todo.v1.TodoService/GetTodo'));
    assert.equal(server.status?.code, 2, 'ERROR');
    assert.deepEqual(server.events?.map((e) => e.name), ['exception']);
    const line = svc.logs.find((l) => l.msg === 'rpc failed' && l.trace_id === traceId);
    assert.equal(line?.code, 'INTERNAL');
    assert.match(JSON.stringify(line?.err), /todos/, 'the log has what the client does not');
  } finally {
    const fix = new Database(svc.dbPath);
    fix.exec('ALTER TABLE todos_gone RENAME TO todos');
    fix.close();
  }
});
