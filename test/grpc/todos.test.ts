// The todos over gRPC against the real server (GRPC_PORT=0), with two independent clients: Connect's
// (@connectrpc/connect-node, the gRPC protocol) and grpc-js (which loads the .proto itself). The same rules as
// REST: trimming, the limits and refusals of the schemas, the Go update rules, paging, and one store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { http, startService, type TestService } from '../support/helpers.js';
import { connectClient, grpcJsClient, type JsError, type JsTodo, type JsTodoClient } from '../support/grpc.js';

let svc: TestService;
before(async () => {
  svc = await startService({ GRPC_PORT: '0' });
});
after(async () => {
  await svc.dispose();
});

/** The gRPC code a call failed with (Connect's client). */
async function codeOf(call: Promise<unknown>): Promise<Code> {
  const error = await call.then(
    () => assert.fail('the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectError, String(error));
  return error.code;
}

/** The grpc-js error of a failed call. */
async function jsError(call: Promise<unknown>): Promise<JsError> {
  return call.then(
    () => assert.fail('the call succeeded'),
    (e: JsError) => e,
  );
}

describe('Connect client (gRPC protocol)', () => {
  test('create trims the title, get, update with the REST rules, delete; then NOT_FOUND', async () => {
    const client = connectClient(svc.grpcUrl!);
    const { todo: created } = await client.createTodo({ title: '  Buy milk  ', description: '2 litres' });
    assert.ok(created && created.id > 0n);
    assert.equal(created.title, 'Buy milk');
    assert.equal(created.completed, false);
    assert.ok(created.createdAt && created.updatedAt);
    assert.deepEqual((await client.getTodo({ id: created.id })).todo, created);

    // An empty title and an unset description keep their values; completed changes when present.
    const { todo: updated } = await client.updateTodo({ id: created.id, title: '', completed: true });
    assert.deepEqual([updated!.title, updated!.description, updated!.completed], ['Buy milk', '2 litres', true]);
    const { todo: renamed } = await client.updateTodo({ id: created.id, title: ' Buy oat milk ', description: '' });
    assert.deepEqual([renamed!.title, renamed!.description, renamed!.completed], ['Buy oat milk', '2 litres', true]);

    const { todo: deleted } = await client.deleteTodo({ id: created.id });
    assert.deepEqual(deleted, renamed);
    assert.equal(await codeOf(client.getTodo({ id: created.id })), Code.NotFound);
    assert.equal(await codeOf(client.deleteTodo({ id: created.id })), Code.NotFound);
    assert.equal(await codeOf(client.updateTodo({ id: created.id, completed: false })), Code.NotFound);
  });

  test('validation: the REST refusals are INVALID_ARGUMENT with the same message', async () => {
    const client = connectClient(svc.grpcUrl!);
    const cases: [string, () => Promise<unknown>][] = [
      ['blank title', () => client.createTodo({ title: '   ' })],
      ['no title', () => client.createTodo({})],
      ['201 characters', () => client.createTodo({ title: 'x'.repeat(201) })],
      ['a control character', () => client.createTodo({ title: 'a\u0007b' })],
      ['a NUL in the description', () => client.createTodo({ title: 'ok', description: 'a\u0000b' })],
      ['2001 characters of description', () => client.createTodo({ title: 'ok', description: 'd'.repeat(2001) })],
      ['a blank title on update', () => client.updateTodo({ id: 1n, title: ' \t ' })],
      ['id 0', () => client.getTodo({ id: 0n })],
      ['an id past 2^53', () => client.getTodo({ id: 2n ** 53n })],
      ['a negative id past -2^53', () => client.deleteTodo({ id: -(2n ** 60n) })],
    ];
    for (const [what, call] of cases) assert.equal(await codeOf(call()), Code.InvalidArgument, what);

    const error = (await client.createTodo({ title: 'x'.repeat(201) }).catch((e: ConnectError) => e)) as ConnectError;
    const rest = await http(svc.url, 'POST', '/api/todos', { body: { title: 'x'.repeat(201) } });
    assert.equal(rest.status, 400);
    // The REST detail, naming the field as the message does (TypeBox's wording is Ajv's but for "NOT").
    assert.equal(error.rawMessage.toLowerCase(), (rest.body.detail as string).replace('body.', '').toLowerCase());
    // 200 characters (astral ones count once, as in REST) and tab/LF in a description are fine.
    assert.equal((await client.createTodo({ title: '🚀'.repeat(200), description: 'a\tb\nc' })).todo!.title.length, 400);
  });

  test('pagination and the completed filter, with REST defaults for unset or out-of-range page and limit', async () => {
    const fresh = await startService({ GRPC_PORT: '0' });
    try {
      const client = connectClient(fresh.grpcUrl!);
      for (let i = 1; i <= 12; i++) {
        const { todo } = await client.createTodo({ title: `t${i}` });
        if (i % 3 === 0) await client.updateTodo({ id: todo!.id, completed: true });
      }
      const all = await client.listTodos({});
      assert.deepEqual(all.todos.map((t) => t.title), ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', 't10']);
      assert.deepEqual([all.pagination!.currentPage, all.pagination!.totalItems, all.pagination!.itemsPerPage], [1, 12n, 10]);

      const page3 = await client.listTodos({ page: 3, limit: 5 });
      assert.deepEqual(page3.todos.map((t) => t.title), ['t11', 't12']);
      assert.equal(page3.pagination!.currentPage, 3);
      assert.deepEqual((await client.listTodos({ page: 9, limit: 5 })).todos, [], 'a page past the end is empty');
      for (const limit of [0, -1, 101]) assert.equal((await client.listTodos({ limit })).pagination!.itemsPerPage, 10, `limit ${limit}`);
      assert.equal((await client.listTodos({ page: -3 })).pagination!.currentPage, 1);

      const done = await client.listTodos({ completed: true, limit: 100 });
      assert.deepEqual(done.todos.map((t) => t.title), ['t3', 't6', 't9', 't12']);
      assert.equal(done.pagination!.totalItems, 4n);
      assert.equal((await client.listTodos({ completed: false })).pagination!.totalItems, 8n);

      // The same page over REST: one store, one set of rules.
      const rest = await http<{ todos: { id: number }[] }>(fresh.url, 'GET', '/api/todos?page=3&limit=5');
      assert.deepEqual(rest.body.todos.map((t) => BigInt(t.id)), page3.todos.map((t) => t.id));
    } finally {
      await fresh.dispose();
    }
  });

  test('gRPC-Web and the Connect protocol serve the same todos on the same port', async () => {
    const { todo } = await connectClient(svc.grpcUrl!, 'grpc-web').createTodo({ title: 'over grpc-web' });
    assert.equal((await connectClient(svc.grpcUrl!, 'connect').getTodo({ id: todo!.id })).todo!.title, 'over grpc-web');
    assert.equal(await codeOf(connectClient(svc.grpcUrl!, 'connect').createTodo({ title: '' })), Code.InvalidArgument);
    const rest = await http<{ todo: { title: string; created_at: string } }>(svc.url, 'GET', `/api/todos/${todo!.id}`);
    assert.equal(rest.body.todo.title, 'over grpc-web');
    assert.equal(rest.body.todo.created_at, new Date(Number(todo!.createdAt!.seconds) * 1000 + todo!.createdAt!.nanos / 1e6).toISOString());
  });
});

describe('grpc-js client (the reference implementation, loading the .proto)', () => {
  let client: JsTodoClient;
  before(() => {
    client = grpcJsClient(svc.grpcUrl!);
  });
  after(() => client.close());

  test('CRUD with int64 ids as strings and Timestamps', async () => {
    const { todo } = await client.call<{ todo: JsTodo }>('CreateTodo', { title: ' from grpc-js ' });
    assert.equal(todo.title, 'from grpc-js');
    assert.match(todo.id, /^\d+$/);
    assert.ok(Number(todo.created_at.seconds) > 1_700_000_000);
    assert.deepEqual((await client.call<{ todo: JsTodo }>('GetTodo', { id: todo.id })).todo, todo);
    const updated = await client.call<{ todo: JsTodo }>('UpdateTodo', { id: todo.id, completed: true });
    assert.equal(updated.todo.completed, true);
    assert.equal(updated.todo.title, 'from grpc-js');
    const page = await client.call<{ todos: JsTodo[]; pagination: { total_items: string } }>('ListTodos', { completed: true, limit: 100 });
    assert.ok(page.todos.some((t) => t.id === todo.id));
    await client.call('DeleteTodo', { id: todo.id });
    const gone = await jsError(client.call('GetTodo', { id: todo.id }));
    assert.equal(gone.code, Code.NotFound);
    assert.equal(gone.details, `No todo with id ${todo.id}.`);
  });

  test('errors carry the code and the readable message, and the request id as metadata', async () => {
    const traceparent = '00-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const invalid = await jsError(client.call('CreateTodo', { title: 'a\u0001' }, { metadata: { 'x-request-id': 'grpc-test-1', traceparent } }));
    assert.equal(invalid.code, Code.InvalidArgument);
    assert.equal(invalid.details, 'The request is not valid: title contains characters that are not allowed (control characters, or blank).');
    assert.equal(invalid.metadata.get('x-request-id')[0], 'grpc-test-1');
    assert.equal((await jsError(client.call('UpdateTodo', { id: '0', completed: true }))).code, Code.InvalidArgument);
    const line = svc.logs.find((l) => l.request_id === 'grpc-test-1');
    assert.deepEqual([line?.rpc, line?.code, line?.protocol, line?.msg], ['todo.v1.TodoService/CreateTodo', 'INVALID_ARGUMENT', 'grpc', 'rpc completed']);
    assert.equal(line?.trace_id, '6bf92f3577b34da6a3ce929d0e0e4736', "tracing off: the caller's trace id");
  });
});

test('the metrics count RPCs by service, method, code and protocol', async () => {
  const text = (await http<string>(svc.url, 'GET', '/metrics')).text;
  assert.match(text, /rpc_server_requests_total\{service="todo\.v1\.TodoService",method="GetTodo",code="NOT_FOUND",protocol="grpc"\} [1-9]/);
  assert.match(text, /rpc_server_requests_total\{service="todo\.v1\.TodoService",method="CreateTodo",code="OK",protocol="grpc-web"\} 1/);
  assert.match(text, /rpc_server_duration_seconds_count\{service="todo\.v1\.TodoService",method="CreateTodo",code="INVALID_ARGUMENT"\} [1-9]/);
});
