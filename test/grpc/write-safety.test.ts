// If-Match and Idempotency-Key over gRPC: the same code as REST's (src/todos/write-safety.ts), as metadata. The
// ETag comes back as response metadata; a stale If-Match is FAILED_PRECONDITION with the current ETag; a key is
// spent once whichever transport a retry takes; the same key for another request is ALREADY_EXISTS.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { http, startService, type TestService } from '../support/helpers.js';
import { connectClient, grpcJsClient, type JsError, type JsTodo } from '../support/grpc.js';

let svc: TestService;
before(async () => {
  svc = await startService({ GRPC_PORT: '0' });
});
after(async () => {
  await svc.dispose();
});

/** A call's result and its response metadata (Connect client). */
async function withHeaders<T>(call: (onHeader: (h: Headers) => void) => Promise<T>): Promise<{ result: T; headers: Headers }> {
  let headers = new Headers();
  const result = await call((h) => (headers = h));
  return { result, headers };
}

const failure = (call: Promise<unknown>) =>
  call.then(
    () => assert.fail('the call succeeded'),
    (e: ConnectError) => e,
  );

test('ETag as metadata; If-Match makes update and delete a compare-and-set (FAILED_PRECONDITION with the current ETag)', async () => {
  const client = connectClient(svc.grpcUrl!);
  const { todo } = await client.createTodo({ title: 'versioned' });
  const id = todo!.id;
  const read = await withHeaders((onHeader) => client.getTodo({ id }, { onHeader }));
  const etag = read.headers.get('etag');
  assert.match(etag ?? '', new RegExp(`^"${id}\\.\\d+"$`));
  assert.equal((await http(svc.url, 'GET', `/api/todos/${id}`)).headers.get('etag'), etag, 'the same ETag as REST');

  const updated = await withHeaders((onHeader) => client.updateTodo({ id, completed: true }, { headers: { 'if-match': etag! }, onHeader }));
  const next = updated.headers.get('etag');
  assert.ok(next && next !== etag);

  const stale = await failure(client.updateTodo({ id, title: 'lost update' }, { headers: { 'if-match': etag! } }));
  assert.equal(stale.code, Code.FailedPrecondition);
  assert.equal(stale.metadata.get('etag'), next);
  assert.equal((await failure(client.deleteTodo({ id }, { headers: { 'if-match': etag! } }))).code, Code.FailedPrecondition);
  assert.equal((await client.getTodo({ id })).todo!.title, 'versioned', 'nothing was written');

  const js = grpcJsClient(svc.grpcUrl!);
  try {
    const staleJs = (await js.call('DeleteTodo', { id: String(id) }, { metadata: { 'if-match': etag! } }).catch((e: JsError) => e)) as JsError;
    assert.equal(staleJs.code, Code.FailedPrecondition);
    const deleted = await js.call<{ todo: JsTodo }>('DeleteTodo', { id: String(id) }, { metadata: { 'if-match': next } });
    assert.equal(deleted.todo.title, 'versioned');
  } finally {
    js.close();
  }
});

test('REQUIRE_IF_MATCH: an unconditional update or delete is FAILED_PRECONDITION', async () => {
  const strict = await startService({ GRPC_PORT: '0', REQUIRE_IF_MATCH: 'true' });
  try {
    const client = connectClient(strict.grpcUrl!);
    const { todo } = await client.createTodo({ title: 'strict' });
    assert.equal((await failure(client.updateTodo({ id: todo!.id, completed: true }))).code, Code.FailedPrecondition);
    assert.equal((await failure(client.deleteTodo({ id: todo!.id }))).code, Code.FailedPrecondition);
    assert.ok((await client.updateTodo({ id: todo!.id, completed: true }, { headers: { 'if-match': '*' } })).todo!.completed);
  } finally {
    await strict.dispose();
  }
});

test('Idempotency-Key: a repeat replays the first answer, across transports; another request with the key is ALREADY_EXISTS', async () => {
  const client = connectClient(svc.grpcUrl!);
  const key = { 'idempotency-key': `grpc-${Date.now()}` };
  const first = await withHeaders((onHeader) => client.createTodo({ title: 'once' }, { headers: key, onHeader }));
  const again = await withHeaders((onHeader) => client.createTodo({ title: ' once ' }, { headers: key, onHeader }));
  assert.equal(again.result.todo!.id, first.result.todo!.id, 'the same todo, not a second one');
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(first.headers.get('idempotent-replayed'), null);
  assert.equal((await failure(client.createTodo({ title: 'something else' }, { headers: key }))).code, Code.AlreadyExists);

  // The REST request a call stands for: a key first spent over REST replays over gRPC, and the other way round.
  const restKey = { 'idempotency-key': `rest-${Date.now()}` };
  const rest = await http<{ todo: { id: number } }>(svc.url, 'POST', '/api/todos', { body: { title: 'via REST' }, headers: restKey });
  assert.equal((await client.createTodo({ title: 'via REST' }, { headers: restKey })).todo!.id, BigInt(rest.body.todo.id));
  const grpcKey = { 'idempotency-key': `both-${Date.now()}` };
  const viaGrpc = await client.updateTodo({ id: first.result.todo!.id, completed: true }, { headers: grpcKey });
  const replayed = await http(svc.url, 'PATCH', `/api/todos/${first.result.todo!.id}`, { body: { completed: true }, headers: grpcKey });
  assert.equal(replayed.status, 200);
  assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
  assert.equal(replayed.body.todo.updated_at, new Date(Number(viaGrpc.todo!.updatedAt!.seconds) * 1000 + viaGrpc.todo!.updatedAt!.nanos / 1e6).toISOString());

  assert.equal((await failure(client.createTodo({ title: 'bad key' }, { headers: { 'idempotency-key': '' } }))).code, Code.InvalidArgument);
});
