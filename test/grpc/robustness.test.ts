// What a hostile or unlucky client can do to the gRPC port, against the real server: deadlines are honoured
// (DEADLINE_EXCEEDED, nothing half-written), malformed and oversized messages get clean errors, a client that
// does not speak HTTP/2 loses only its connection, the REST rate limit holds across both transports, and the
// drain lets a call in flight finish. The process lives through all of it.
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { after, before, test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { CreateTodoRequestSchema } from '../../src/grpc/gen/todo/v1/todo_pb.js';
import { http, startService, type TestService } from '../support/helpers.js';
import { connectClient, grpcJsClient, type JsError } from '../support/grpc.js';

let svc: TestService;
before(async () => {
  svc = await startService({ GRPC_PORT: '0' });
});
after(async () => {
  await svc.dispose();
});

/** A gRPC message frame: the compressed flag, the length (big-endian), the bytes. `length` may lie. */
const frame = (bytes: Uint8Array, length = bytes.length) => Buffer.concat([Buffer.from([0, length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255]), bytes]);

interface RawAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

/** One raw gRPC call on an HTTP/2 session: `send` writes the request body (and may take its time). */
function rawCall(session: ClientHttp2Session, path: string, send: (write: (chunk: Buffer) => void, end: () => void) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    send(
      (chunk) => stream.write(chunk),
      () => stream.end(),
    );
  });
}

const OK = 0;

/** The status of a raw answer: in the trailers, or in the headers of a trailers-only answer. */
const statusOf = (a: RawAnswer) => Number(a.trailers['grpc-status'] ?? a.headers['grpc-status']);

async function alive(): Promise<void> {
  const { todo } = await connectClient(svc.grpcUrl!).createTodo({ title: 'still alive' });
  assert.ok(todo);
  assert.equal((await http(svc.url, 'GET', '/livez')).status, 200);
}

test('a 1 ms deadline gets DEADLINE_EXCEEDED from both clients, and nothing half-written', async () => {
  const fresh = await startService({ GRPC_PORT: '0' });
  try {
    const client = connectClient(fresh.grpcUrl!);
    const js = grpcJsClient(fresh.grpcUrl!);
    try {
      for (let i = 0; i < 5; i++) {
        const error = await client.createTodo({ title: `deadline ${i}`, description: 'x'.repeat(1000) }, { timeoutMs: 1 }).catch((e: ConnectError) => e);
        assert.ok(error instanceof ConnectError && error.code === Code.DeadlineExceeded, error instanceof Error ? error.message : 'no error');
        const jsError = await js.call('CreateTodo', { title: `js deadline ${i}` }, { deadlineMs: 1 }).catch((e: JsError) => e);
        assert.equal((jsError as JsError).code, Code.DeadlineExceeded);
      }
      // Whatever the server did with those calls, each todo is whole or absent: the page and its count agree,
      // and every todo listed reads back complete.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const page = await client.listTodos({ limit: 100 });
      assert.equal(Number(page.pagination!.totalItems), page.todos.length);
      for (const todo of page.todos) {
        assert.match(todo.title, /^(js )?deadline \d$/);
        assert.deepEqual((await client.getTodo({ id: todo.id })).todo, todo);
      }
      // Each call either never reached the server, lost its message on the way (the client cancelled first:
      // Connect answers a unary call without its message UNIMPLEMENTED), was refused before any work
      // (DEADLINE_EXCEEDED, CANCELED), or was written whole: the stored todos are exactly the calls answered OK.
      const calls = fresh.logs.filter((l) => l.rpc === 'todo.v1.TodoService/CreateTodo');
      for (const line of calls) {
        const allowed = line.msg === 'rpc refused' ? ['UNIMPLEMENTED', 'CANCELED'] : ['OK', 'DEADLINE_EXCEEDED', 'CANCELED'];
        assert.ok(allowed.includes(line.code as string), JSON.stringify(line));
      }
      assert.equal(calls.filter((l) => l.code === 'OK').length, page.todos.length);
    } finally {
      js.close();
    }
  } finally {
    await fresh.dispose();
  }
});

test('malformed frames get clean errors (INTERNAL for bytes that are no protobuf, as gRPC specifies; INVALID_ARGUMENT for a broken frame; RESOURCE_EXHAUSTED past the size limit), and the process lives', async () => {
  const session = h2connect(svc.grpcUrl!);
  try {
    const path = '/todo.v1.TodoService/CreateTodo';
    // Bytes that are no protobuf (a field with wire type 7): INTERNAL, as gRPC's status code table has it for "error
    // parsing request proto" (grpc-go and grpc-java answer the same), with what was wrong and nothing of the server's.
    const garbage = await rawCall(session, path, (write, end) => (write(frame(Buffer.from([0x0f, 0xff, 0xff, 0xff]))), end()));
    assert.equal(statusOf(garbage), Code.Internal, JSON.stringify(garbage.trailers));
    assert.match(String(garbage.trailers['grpc-message']), /^parse binary: illegal tag/);
    // A frame that announces more bytes than it sends.
    const truncated = await rawCall(session, path, (write, end) => (write(frame(Buffer.from([0x0a, 0x02, 0x68]), 10)), end()));
    assert.equal(statusOf(truncated), Code.InvalidArgument, JSON.stringify(truncated.trailers));
    // A frame header that announces 1 GiB: refused from the header, nothing is buffered.
    const huge = await rawCall(session, path, (write, end) => (write(frame(Buffer.alloc(8), 1 << 30)), end()));
    assert.equal(statusOf(huge), Code.ResourceExhausted, JSON.stringify(huge.trailers));
    // A title that is not UTF-8.
    const notUtf8 = await rawCall(session, path, (write, end) => (write(frame(Buffer.from([0x0a, 0x02, 0xc3, 0x28]))), end()));
    assert.equal(statusOf(notUtf8), Code.Internal, JSON.stringify(notUtf8.trailers));
    // Two messages on a unary call.
    const ok = toBinary(CreateTodoRequestSchema, create(CreateTodoRequestSchema, { title: 'one' }));
    const two = await rawCall(session, path, (write, end) => (write(Buffer.concat([frame(ok), frame(ok)])), end()));
    assert.notEqual(statusOf(two), OK);
    // An unknown method.
    const unknown = await rawCall(session, '/todo.v1.TodoService/Nope', (_write, end) => end());
    assert.ok(Number(unknown.headers[':status']) === 404 || statusOf(unknown) === (Code.Unimplemented as number));
  } finally {
    session.close();
  }
  await alive();
  // Refused before any interceptor ran, yet counted and logged like every other call.
  const metrics = (await http<string>(svc.url, 'GET', '/metrics')).text;
  assert.match(metrics, /rpc_server_requests_total\{service="todo\.v1\.TodoService",method="CreateTodo",code="INTERNAL",protocol="grpc"\} [2-9]/);
  assert.match(metrics, /rpc_server_requests_total\{service="todo\.v1\.TodoService",method="CreateTodo",code="RESOURCE_EXHAUSTED",protocol="grpc"\} 1/);
  assert.match(metrics, /rpc_server_requests_total\{service="unknown",method="unknown",code="UNIMPLEMENTED",protocol="grpc"\} 1/);
  assert.ok(svc.logs.some((l) => l.msg === 'rpc refused' && l.path === '/todo.v1.TodoService/Nope'));
});

test('an oversized message is RESOURCE_EXHAUSTED from both clients; the process lives', async () => {
  const big = 'x'.repeat(64 * 1024);
  const error = await connectClient(svc.grpcUrl!).createTodo({ title: 'big', description: big }).catch((e: ConnectError) => e);
  assert.equal((error as ConnectError).code, Code.ResourceExhausted);
  const js = grpcJsClient(svc.grpcUrl!);
  try {
    assert.equal(((await js.call('CreateTodo', { title: 'big', description: big }).catch((e: JsError) => e)) as JsError).code, Code.ResourceExhausted);
  } finally {
    js.close();
  }
  await alive();
});

test('HTTP/1.1 and garbage on the gRPC port cost only that connection', async () => {
  for (const bytes of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000\u0004\u0009garbage']) {
    await new Promise<void>((resolve) => {
      const socket = tcpConnect(Number(new URL(svc.grpcUrl!).port), '127.0.0.1', () => socket.end(bytes));
      socket.on('data', () => {});
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
    });
  }
  await alive();
});

test('the rate limit is the REST one: one budget per caller over REST and gRPC, RESOURCE_EXHAUSTED with retry-after', async () => {
  const limited = await startService({ GRPC_PORT: '0', RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '60000' });
  try {
    const client = connectClient(limited.grpcUrl!);
    const rest = async () => (await fetch(`${limited.url}/api/todos`)).status;
    assert.equal(await rest(), 200);
    assert.equal(await rest(), 200);
    await client.listTodos({});
    await client.listTodos({});
    const error = await client.listTodos({}).catch((e: ConnectError) => e);
    assert.equal((error as ConnectError).code, Code.ResourceExhausted);
    assert.match((error as ConnectError).metadata.get('retry-after') ?? '', /^\d+$/);
    assert.equal(await rest(), 429, 'REST counts the gRPC calls too');
    // Health checks are never limited, like the probes.
    const { createClient } = await import('@connectrpc/connect');
    const { createGrpcTransport } = await import('@connectrpc/connect-node');
    const { Health } = await import('../../src/grpc/gen/grpc/health/v1/health_pb.js');
    const health = createClient(Health, createGrpcTransport({ baseUrl: limited.grpcUrl! }));
    for (let i = 0; i < 3; i++) await health.check({});
  } finally {
    await limited.dispose();
  }
});

test('the drain lets a call in flight finish: its message arrives after the shutdown began, and it is answered OK', async () => {
  const draining = await startService({ GRPC_PORT: '0', SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '5000' });
  const session = h2connect(draining.grpcUrl!);
  try {
    const message = frame(toBinary(CreateTodoRequestSchema, create(CreateTodoRequestSchema, { title: 'in flight' })));
    let closed: Promise<void> | undefined;
    const answer = rawCall(session, '/todo.v1.TodoService/CreateTodo', (write, end) => {
      write(message.subarray(0, 4));
      // The server starts to close while the call is half sent; the rest arrives 300 ms later.
      setTimeout(() => {
        closed = draining.close();
      }, 50);
      setTimeout(() => (write(message.subarray(4)), end()), 350);
    });
    const result = await answer;
    assert.equal(statusOf(result), OK, JSON.stringify(result.trailers));
    await closed;
    assert.ok(draining.logs.some((l) => l.rpc === 'todo.v1.TodoService/CreateTodo' && l.code === 'OK'));
  } finally {
    session.close();
    await draining.dispose();
  }
});
