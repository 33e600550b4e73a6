// Identity and ownership across transports, on every backend: the `authorization` metadata carries the same
// Bearer token or API key as REST's header, checked by the same Authenticator and scopes. A todo created over REST
// is read over gRPC by its owner, and is NOT_FOUND — exactly like a missing id — for another owner, with both
// clients and through the Redis cache.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { backends, http, type TestService } from '../support/helpers.js';
import { connectClient, grpcJsClient, type JsError, type JsTodo } from '../support/grpc.js';
import { startIssuer, type Issuer } from '../support/issuer.js';

let issuer: Issuer;
before(async () => {
  issuer = await startIssuer();
});
after(async () => {
  await issuer.stop();
});

const failure = (call: Promise<unknown>) =>
  call.then(
    () => assert.fail('the call succeeded'),
    (e: ConnectError | JsError) => e,
  );

for (const backend of backends) {
  describe(`ownership across REST and gRPC on ${backend.name}`, { skip: backend.skip }, () => {
    let svc: TestService;
    let alice: Record<string, string>;
    let bob: Record<string, string>;
    let aliceTodo: { id: number; title: string };

    before(async () => {
      svc = await backend.start({ ...issuer.env(), GRPC_PORT: '0' });
      alice = { authorization: `Bearer ${await issuer.token({ sub: 'alice' })}` };
      bob = { authorization: `Bearer ${await issuer.token({ sub: 'bob' })}` };
      aliceTodo = (await http<{ todo: { id: number; title: string } }>(svc.url, 'POST', '/api/todos', { body: { title: 'from REST' }, headers: alice })).body.todo;
    });
    after(async () => {
      await svc.dispose();
    });

    test('the owner reads the REST todo over gRPC with both clients; another owner gets NOT_FOUND, as for a missing id', async () => {
      const connect = connectClient(svc.grpcUrl!);
      const js = grpcJsClient(svc.grpcUrl!);
      try {
        const viaConnect = await connect.getTodo({ id: BigInt(aliceTodo.id) }, { headers: alice });
        assert.equal(viaConnect.todo!.title, 'from REST');
        const viaJs = await js.call<{ todo: JsTodo }>('GetTodo', { id: String(aliceTodo.id) }, { metadata: alice });
        assert.equal(viaJs.todo.title, 'from REST');

        const missing = (await failure(connect.getTodo({ id: 999_999n }, { headers: bob }))) as ConnectError;
        for (const call of [
          () => connect.getTodo({ id: BigInt(aliceTodo.id) }, { headers: bob }),
          () => connect.updateTodo({ id: BigInt(aliceTodo.id), title: 'pwned' }, { headers: bob }),
          () => connect.deleteTodo({ id: BigInt(aliceTodo.id) }, { headers: bob }),
        ]) {
          const error = (await failure(call())) as ConnectError;
          assert.equal(error.code, Code.NotFound);
          assert.equal(error.rawMessage.replace(String(aliceTodo.id), 'N'), missing.rawMessage.replace('999999', 'N'), 'no existence oracle');
        }
        assert.equal(((await failure(js.call('GetTodo', { id: String(aliceTodo.id) }, { metadata: bob }))) as JsError).code, Code.NotFound);
        const bobsList = await connect.listTodos({}, { headers: bob });
        assert.equal(bobsList.pagination!.totalItems, 0n);

        // A's todo is untouched, and what B creates over gRPC is B's alone, over REST too.
        assert.equal((await http(svc.url, 'GET', `/api/todos/${aliceTodo.id}`, { headers: alice })).body.todo.title, 'from REST');
        const { todo } = await connect.createTodo({ title: 'bob over gRPC' }, { headers: bob });
        assert.equal((await http(svc.url, 'GET', `/api/todos/${todo!.id}`, { headers: bob })).status, 200);
        assert.equal((await http(svc.url, 'GET', `/api/todos/${todo!.id}`, { headers: alice })).status, 404);
      } finally {
        js.close();
      }
    });

    test('no or bad credentials → UNAUTHENTICATED with the challenge; a missing scope → PERMISSION_DENIED', async () => {
      const connect = connectClient(svc.grpcUrl!);
      const none = (await failure(connect.listTodos({}))) as ConnectError;
      assert.equal(none.code, Code.Unauthenticated);
      assert.match(none.metadata.get('www-authenticate') ?? '', /^Bearer realm="todo-service"/);
      assert.equal(((await failure(connect.getTodo({ id: 1n }, { headers: { authorization: 'Bearer not-a-token' } }))) as ConnectError).code, Code.Unauthenticated);
      assert.equal(((await failure(connect.getTodo({ id: 1n }, { headers: { authorization: 'Basic YTpi' } }))) as ConnectError).code, Code.Unauthenticated);

      const reader = { authorization: `Bearer ${await issuer.token({ sub: 'alice', scope: 'todos:read' })}` };
      assert.equal((await connect.getTodo({ id: BigInt(aliceTodo.id) }, { headers: reader })).todo!.title, 'from REST');
      const js = grpcJsClient(svc.grpcUrl!);
      try {
        const denied = (await failure(js.call('DeleteTodo', { id: String(aliceTodo.id) }, { metadata: reader }))) as JsError;
        assert.equal(denied.code, Code.PermissionDenied);
        assert.match(String(denied.metadata.get('www-authenticate')[0]), /error="insufficient_scope"/);
        assert.equal(((await failure(js.call('ListTodos', {}))) as JsError).code, Code.Unauthenticated);
      } finally {
        js.close();
      }
      assert.equal((await http(svc.url, 'GET', `/api/todos/${aliceTodo.id}`, { headers: alice })).status, 200, 'nothing was deleted');
    });
  });
}
