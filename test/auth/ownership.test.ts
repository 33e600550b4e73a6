// Ownership (broken object-level authorization, OWASP API1) on every backend: a caller sees and changes only
// its own todos. Another owner's todo answers exactly as a missing one (404, same body shape), lists and counts
// are per owner, and the Redis cache never hands one owner's entry to another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends, http, type TestService } from '../support/helpers.js';
import { startIssuer, type Issuer } from '../support/issuer.js';

interface Todo {
  id: number;
  title: string;
  completed: boolean;
}
type Page = { todos: Todo[]; pagination: { total_items: number } };

let issuer: Issuer;
before(async () => {
  issuer = await startIssuer();
});
after(async () => {
  await issuer.stop();
});

for (const backend of backends) {
  describe(`ownership on ${backend.name}`, { skip: backend.skip }, () => {
    let svc: TestService;
    let alice: Record<string, string>;
    let bob: Record<string, string>;
    const aliceTodos: Todo[] = [];

    before(async () => {
      svc = await backend.start(issuer.env());
      alice = { authorization: `Bearer ${await issuer.token({ sub: 'alice' })}` };
      bob = { authorization: `Bearer ${await issuer.token({ sub: 'bob' })}` };
      for (const title of ['a1', 'a2', 'a3']) {
        aliceTodos.push((await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title }, headers: alice })).body.todo);
      }
      await http(svc.url, 'PUT', `/api/todos/${aliceTodos[0]!.id}`, { body: { completed: true }, headers: alice });
      await http(svc.url, 'POST', '/api/todos', { body: { title: 'b1' }, headers: bob });
    });
    after(async () => {
      await svc.dispose();
    });

    test("B cannot read, update or delete A's todos: each a 404 exactly like a missing id", async () => {
      const target = aliceTodos[1]!;
      // Warm the cache with A's reads first, so a cache keyed without the owner would leak.
      await http(svc.url, 'GET', `/api/todos/${target.id}`, { headers: alice });
      await http(svc.url, 'GET', '/api/todos', { headers: alice });
      const missing = await http<{ type: string; title: string }>(svc.url, 'GET', '/api/todos/999999', { headers: bob });
      for (const [method, body] of [['GET', undefined], ['PUT', { title: 'pwned' }], ['PATCH', { completed: true }], ['DELETE', undefined]] as const) {
        const r = await http<{ type: string; title: string }>(svc.url, method, `/api/todos/${target.id}`, { body, headers: bob });
        assert.equal(r.status, 404, `${method}: ${r.text}`);
        assert.deepEqual([r.body.type, r.body.title], [missing.body.type, missing.body.title], 'no existence oracle');
      }
      const still = await http<{ todo: Todo }>(svc.url, 'GET', `/api/todos/${target.id}`, { headers: alice });
      assert.deepEqual(still.body.todo, target, "A's todo is unchanged and still there");
    });

    test("lists and counts are each owner's alone, with and without the completed filter", async () => {
      const a = await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: alice });
      assert.deepEqual(a.body.todos.map((t) => t.title), ['a1', 'a2', 'a3']);
      assert.equal(a.body.pagination.total_items, 3);
      assert.equal((await http<Page>(svc.url, 'GET', '/api/todos?completed=true', { headers: alice })).body.pagination.total_items, 1);
      assert.equal((await http<Page>(svc.url, 'GET', '/api/todos?completed=false', { headers: alice })).body.pagination.total_items, 2);
      const b = await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: bob });
      assert.deepEqual(b.body.todos.map((t) => t.title), ['b1']);
      assert.equal(b.body.pagination.total_items, 1);
      assert.equal((await http<Page>(svc.url, 'GET', '/api/todos?completed=true', { headers: bob })).body.pagination.total_items, 0);
      // A page past B's own todos is empty, whatever A has.
      assert.deepEqual((await http<Page>(svc.url, 'GET', '/api/todos?page=2&limit=1', { headers: bob })).body.todos, []);
    });

    test("B's writes never touch A's list: a create and a delete by B leave A's cached page as it was", async () => {
      const before = await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: alice });
      const created = await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'b2' }, headers: bob });
      await http(svc.url, 'DELETE', `/api/todos/${created.body.todo.id}`, { headers: bob });
      const after = await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: alice });
      assert.deepEqual(after.body.todos, before.body.todos);
      // And A's own write shows at once, to A only.
      await http(svc.url, 'PUT', `/api/todos/${aliceTodos[2]!.id}`, { body: { title: 'a3 renamed' }, headers: alice });
      const renamed = await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: alice });
      assert.equal(renamed.body.todos.at(-1)!.title, 'a3 renamed');
      assert.deepEqual((await http<Page>(svc.url, 'GET', '/api/todos?limit=100', { headers: bob })).body.todos.map((t) => t.title), ['b1']);
    });
  });
}
