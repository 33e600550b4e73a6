// Listing: the Go reference's page/limit rules exactly, the completed filter, and totals kept by triggers.
// One suite, run against every backend.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, type TodoPage } from '../support/client.js';
import { assertProblem, backends, http, type TestService } from '../support/helpers.js';

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let svc: TestService;
    const ids: number[] = [];
    // Raw query strings (the rules are about odd values); the typed client for the rest.
    const list = (query = '') => http<TodoPage>(svc.url, 'GET', `/api/todos${query}`);
    const todos = client(() => svc.url);

    before(async () => {
      svc = await backend.start();
      // 25 todos; every third one completed.
      for (let i = 1; i <= 25; i++) {
        const { todo } = await todos.expect('createTodo', 201, { body: { title: `todo ${i}` } });
        ids.push(todo.id);
        if (i % 3 === 0) await todos.expect('patchTodo', 200, { params: { id: todo.id }, body: { completed: true } });
      }
    });
    after(async () => {
      await svc.dispose();
    });

    test('an empty store lists an empty array, not null', async () => {
      const empty = await backend.start();
      try {
        const page = await client(() => empty.url).expect('listTodos', 200);
        assert.deepEqual(page.todos, []);
        assert.deepEqual(page.pagination, { current_page: 1, total_items: 0, items_per_page: 10 });
      } finally {
        await empty.dispose();
      }
    });

    test('defaults: page 1, limit 10, ascending ids, total of all todos', async () => {
      const r = await list();
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.pagination, { current_page: 1, total_items: 25, items_per_page: 10 });
      assert.deepEqual(r.body.todos.map((t) => t.id), ids.slice(0, 10));
      assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)));
    });

    test('pages walk the list; the last page is partial; past the end is empty', async () => {
      assert.deepEqual((await list('?page=2&limit=10')).body.todos.map((t) => t.id), ids.slice(10, 20));
      const last = await list('?page=3&limit=10');
      assert.deepEqual(last.body.todos.map((t) => t.id), ids.slice(20));
      const past = await list('?page=4&limit=10');
      assert.deepEqual(past.body.todos, []);
      assert.deepEqual(past.body.pagination, { current_page: 4, total_items: 25, items_per_page: 10 });
      const far = await list('?page=99999999999&limit=100');
      assert.deepEqual(far.body.todos, []);
      assert.equal(far.body.pagination.current_page, 99999999999);
    });

    test('limit rules: 1..100 accepted, anything else falls back to 10', async () => {
      assert.equal((await list('?limit=1')).body.todos.length, 1);
      assert.equal((await list('?limit=100')).body.pagination.items_per_page, 100);
      assert.equal((await list('?limit=100')).body.todos.length, 25);
      for (const limit of ['0', '-5', '101', '1000', 'abc', '', '5.5', '1e2', '99999999999999999999']) {
        const r = await list(`?limit=${limit}`);
        assert.equal(r.status, 200, limit);
        assert.equal(r.body.pagination.items_per_page, 10, `limit=${limit}`);
        assert.equal(r.body.todos.length, 10);
      }
      assert.equal((await list('?limit=%2B7')).body.pagination.items_per_page, 7, 'Go Atoi accepts a plus sign');
    });

    test('page rules: below 1 or unparsable is page 1', async () => {
      for (const page of ['0', '-3', 'abc', '', '2.5', '99999999999999999999']) {
        const r = await list(`?page=${page}`);
        assert.equal(r.status, 200);
        assert.equal(r.body.pagination.current_page, 1, `page=${page}`);
        assert.deepEqual(r.body.todos.map((t) => t.id), ids.slice(0, 10));
      }
    });

    test('completed filter: totals count only matching todos', async () => {
      const done = await list('?completed=true&limit=100');
      assert.equal(done.body.pagination.total_items, 8);
      assert.ok(done.body.todos.every((t) => t.completed));
      assert.deepEqual(done.body.todos.map((t) => t.id), ids.filter((_, i) => (i + 1) % 3 === 0));
      const open = await list('?completed=false&limit=5&page=2');
      assert.equal(open.body.pagination.total_items, 17);
      assert.equal(open.body.todos.length, 5);
      assert.ok(open.body.todos.every((t) => !t.completed));
      for (const bad of ['yes', '1', 'TRUE', '']) {
        assertProblem(await list(`?completed=${bad}`), 400, assert);
      }
    });

    test('totals follow creates, completes, reopenings and deletes', async () => {
      const { id } = (await todos.expect('createTodo', 201, { body: { title: 'counted' } })).todo;
      const complete = (completed: boolean) => todos.expect('updateTodo', 200, { params: { id }, body: { completed } });
      assert.equal((await list()).body.pagination.total_items, 26);
      await complete(true);
      await complete(true);
      assert.equal((await todos.expect('listTodos', 200, { query: { completed: 'true' } })).pagination.total_items, 9);
      await complete(false);
      assert.equal((await list('?completed=true')).body.pagination.total_items, 8);
      await complete(true);
      await todos.expect('deleteTodo', 200, { params: { id } });
      assert.equal((await list()).body.pagination.total_items, 25);
      assert.equal((await list('?completed=true')).body.pagination.total_items, 8);
      assert.equal((await list('?completed=false')).body.pagination.total_items, 17);
    });
  });
}
