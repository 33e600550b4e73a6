// grpc.health.v1 and server reflection, against the real server: Check and Watch follow /readyz (NOT_SERVING
// from SIGTERM on, while calls are still served), Watch streams end when the server drains, and reflection lists
// the services and hands out their descriptors — to Connect's client and to grpc-js, loading the standard protos.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../src/grpc/gen/grpc/health/v1/health_pb.js';
import { ServerReflection } from '../../src/grpc/gen/grpc/reflection/v1/reflection_pb.js';
import { http, startService, waitFor } from '../support/helpers.js';
import { connectClient, jsClient } from '../support/grpc.js';

const transport = (baseUrl: string) => createGrpcTransport({ baseUrl });

/** grpc-js's Health client, from the standard health.proto. */
function jsHealth(grpcUrl: string) {
  type Check = (req: { service: string }, callback: (error: grpc.ServiceError | null, res: { status: string }) => void) => void;
  const client = jsClient<{ Check: Check }>('grpc/health/v1/health.proto', 'grpc.health.v1.Health', grpcUrl);
  return {
    check: (service: string) => new Promise<string>((resolve, reject) => client.Check({ service }, (error, res) => (error ? reject(error) : resolve(res.status)))),
    close: () => client.close(),
  };
}

test('Check and Watch: SERVING while ready; on SIGTERM NOT_SERVING at once, calls still served; Watch ends with the drain', async () => {
  const svc = await startService({ GRPC_PORT: '0', SHUTDOWN_DELAY_MS: '600' });
  const health = createClient(Health, transport(svc.grpcUrl!));
  const js = jsHealth(svc.grpcUrl!);
  try {
    assert.equal((await health.check({})).status, Status.SERVING);
    assert.equal((await health.check({ service: 'todo.v1.TodoService' })).status, Status.SERVING);
    assert.equal(await js.check(''), 'SERVING');
    const unknown = await health.check({ service: 'nope.v1.Nope' }).catch((e: ConnectError) => e);
    assert.equal((unknown as ConnectError).code, Code.NotFound);

    const seen: Status[] = [];
    const watching = (async () => {
      for await (const res of health.watch({ service: 'todo.v1.TodoService' })) seen.push(res.status);
    })();
    await waitFor('the first Watch message', () => (seen.length > 0 ? true : undefined));
    assert.deepEqual(seen, [Status.SERVING]);

    const closing = svc.close();
    await waitFor('NOT_SERVING on the Watch', () => (seen.includes(Status.NOT_SERVING) ? true : undefined), 2000);
    // During the shutdown delay: not ready everywhere, yet calls are served.
    assert.equal((await health.check({})).status, Status.NOT_SERVING);
    assert.equal(await js.check(''), 'NOT_SERVING');
    assert.equal((await http(svc.url, 'GET', '/readyz')).status, 503);
    assert.ok((await connectClient(svc.grpcUrl!).createTodo({ title: 'still served' })).todo);

    await watching; // the stream ends (OK) when the server drains, rather than holding it up
    await closing;
    assert.deepEqual(seen, [Status.SERVING, Status.NOT_SERVING]);
  } finally {
    js.close();
    await svc.dispose();
  }
});

test('Watch reports a failing readiness check, like /readyz', async () => {
  // A database that goes away: SQLite's file is fine, so use the identity provider check (jwt mode, no issuer).
  const svc = await startService({ GRPC_PORT: '0', AUTH_MODE: 'jwt', AUTH_ISSUER: 'http://127.0.0.1:9/', AUTH_AUDIENCE: 'todo-api' });
  try {
    assert.equal((await http(svc.url, 'GET', '/readyz')).status, 503);
    const health = createClient(Health, transport(svc.grpcUrl!));
    assert.equal((await health.check({})).status, Status.NOT_SERVING);
    for await (const res of health.watch({})) {
      assert.equal(res.status, Status.NOT_SERVING);
      break;
    }
  } finally {
    await svc.dispose();
  }
});

test('reflection lists the services and serves the descriptors (Connect client and grpc-js)', async () => {
  const svc = await startService({ GRPC_PORT: '0' });
  try {
    const reflection = createClient(ServerReflection, transport(svc.grpcUrl!));
    const requests = async function* () {
      yield { host: '', messageRequest: { case: 'listServices' as const, value: '*' } };
      yield { messageRequest: { case: 'fileContainingSymbol' as const, value: 'todo.v1.TodoService.GetTodo' } };
      yield { messageRequest: { case: 'fileByFilename' as const, value: 'google/protobuf/timestamp.proto' } };
      yield { messageRequest: { case: 'fileContainingSymbol' as const, value: 'no.such.Thing' } };
    };
    const answers = [];
    for await (const res of reflection.serverReflectionInfo(requests())) answers.push(res.messageResponse);

    assert.equal(answers[0]!.case, 'listServicesResponse');
    assert.deepEqual(
      answers[0]!.value.service.map((s) => s.name),
      ['todo.v1.TodoService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection'],
    );
    assert.equal(answers[1]!.case, 'fileDescriptorResponse');
    const files = answers[1]!.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    assert.deepEqual(files.map((f) => f.name).sort(), ['google/protobuf/timestamp.proto', 'todo/v1/todo.proto'], 'the file and its imports');
    const todoFile = files.find((f) => f.name === 'todo/v1/todo.proto')!;
    assert.deepEqual(todoFile.service[0]!.method.map((m) => m.name), ['CreateTodo', 'GetTodo', 'ListTodos', 'UpdateTodo', 'DeleteTodo']);
    assert.equal(answers[2]!.case, 'fileDescriptorResponse');
    assert.equal(answers[3]!.case, 'errorResponse');
    assert.equal(answers[3]!.value.errorCode, Code.NotFound);

    // grpc-js with the standard reflection.proto: a bidirectional stream, one answer per question.
    type Answer = { list_services_response: { service: { name: string }[] } };
    const client = jsClient<{ ServerReflectionInfo: () => grpc.ClientDuplexStream<object, Answer> }>(
      'grpc/reflection/v1/reflection.proto',
      'grpc.reflection.v1.ServerReflection',
      svc.grpcUrl!,
    );
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (res: Answer) => resolve(res.list_services_response.service.map((s) => s.name)));
      call.on('error', reject);
      call.write({ list_services: '' });
      call.end();
    });
    client.close();
    assert.ok(names.includes('todo.v1.TodoService'));
  } finally {
    await svc.dispose();
  }
});
