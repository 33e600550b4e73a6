// The todo API against a real server and a real database: the Go reference's contract, then our additions.
// One suite, run against every backend (SQLite, PostgreSQL, PostgreSQL with the Redis cache).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, type Todo, type TodoEnvelope, type UpdateTodo } from '../support/client.js';
import { assertProblem, backends, http, type TestService } from '../support/helpers.js';

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let svc: TestService;
    // Raw requests, for what no well-behaved client sends (wrong types, broken JSON, odd content types)...
    const api = <T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      http<T>(svc.url, method, path, { body, headers });
    // ...and the typed client generated from the OpenAPI document for everything else.
    const todos = client(() => svc.url);
    const create = async (title: string, description?: string): Promise<Todo> =>
      (await todos.expect('createTodo', 201, { body: description === undefined ? { title } : { title, description } })).todo;

    before(async () => {
      svc = await backend.start();
    });
    after(async () => {
      await svc.dispose();
    });

    describe('create', () => {
      test('201 with the reference envelope and a database id', async () => {
        const r = await todos.call('createTodo', { body: { title: 'Write tests', description: 'all of them' } });
        assert.equal(r.status, 201);
        assert.match(r.headers.get('content-type')!, /^application\/json/);
        assert.equal(typeof r.body.message, 'string');
        assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)));
        const t = r.body.todo;
        assert.ok(Number.isInteger(t.id) && t.id > 0);
        assert.deepEqual(Object.keys(t).sort(), ['completed', 'created_at', 'description', 'id', 'title', 'updated_at']);
        assert.equal(t.title, 'Write tests');
        assert.equal(t.description, 'all of them');
        assert.equal(t.completed, false);
        assert.equal(t.created_at, t.updated_at);
        assert.equal(new Date(t.created_at).toISOString(), t.created_at);
      });

      test('ids are assigned by the database and increase', async () => {
        const a = await create('first');
        const b = await create('second');
        assert.ok(b.id > a.id);
      });

      test('the title is trimmed; the description is kept byte for byte', async () => {
        const t = await create('  padded title \n', '  keep  my\tspaces \n');
        assert.equal(t.title, 'padded title');
        assert.equal(t.description, '  keep  my\tspaces \n');
      });

      test('description is optional and null means empty', async () => {
        assert.equal((await create('no description')).description, '');
        const body = await todos.expect('createTodo', 201, { body: { title: 'null description', description: null } });
        assert.equal(body.todo.description, '');
      });

      test('JSON is read whatever the Content-Type says (curl -d sends a form type)', async () => {
        for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream']) {
          const r = await api<TodoEnvelope>('POST', '/api/todos', '{"title":"typed ' + type + '"}', { 'content-type': type });
          assert.equal(r.status, 201, `${type}: ${r.text}`);
          assert.equal(r.body.todo.title, `typed ${type}`);
        }
        const none = await fetch(svc.url + '/api/todos', { method: 'POST', body: Buffer.from('{"title":"no content type"}') });
        assert.equal(none.status, 201);
      });

      test('unknown fields are ignored and never stored: no mass assignment', async () => {
        const r = await api<TodoEnvelope>('POST', '/api/todos', {
          title: 'sneaky',
          id: 999_999,
          completed: true,
          created_at: '2000-01-01T00:00:00.000Z',
          updated_at: '2000-01-01T00:00:00.000Z',
          owner: 'root',
        });
        assert.equal(r.status, 201);
        const t = r.body.todo;
        assert.notEqual(t.id, 999_999);
        assert.equal(t.completed, false);
        assert.notEqual(t.created_at, '2000-01-01T00:00:00.000Z');
        const stored = await api<{ todo: Record<string, unknown> }>('GET', `/api/todos/${t.id}`);
        assert.equal(stored.body.todo.owner, undefined);
        assert.equal(stored.body.todo.completed, false);
      });

      test('title at the limits: 1 and 200 characters pass, 201 fails', async () => {
        assert.equal((await create('x')).title, 'x');
        assert.equal((await create('é'.repeat(200))).title.length, 200);
        const r = await api('POST', '/api/todos', { title: 'x'.repeat(201) });
        assertProblem(r, 400, assert);
      });

      test('description of 2,000 characters passes, 2,001 fails', async () => {
        assert.equal((await create('long', 'd'.repeat(2000))).description.length, 2000);
        assertProblem(await api('POST', '/api/todos', { title: 'too long', description: 'd'.repeat(2001) }), 400, assert);
      });

      test('unicode round-trips byte-identical', async () => {
        const title = '할일 🚀 ñandú — “quotes” \\ back\\slash';
        const t = await create(title, 'emoji 👩‍👩‍👧 and CJK 漢字');
        const { todo } = await todos.expect('getTodo', 200, { params: { id: t.id } });
        assert.equal(todo.title, title);
        assert.equal(todo.description, 'emoji 👩‍👩‍👧 and CJK 漢字');
      });

      const invalid: [string, unknown][] = [
        ['no title', { description: 'x' }],
        ['empty title', { title: '' }],
        ['blank title', { title: ' \t ' }],
        ['null title', { title: null }],
        ['numeric title', { title: 42 }],
        ['array title', { title: ['a'] }],
        ['numeric description', { title: 'ok', description: 5 }],
        ['control character in title', { title: 'bell\u0007' }],
        ['newline inside title', { title: 'two\nlines' }],
        ['NUL in description', { title: 'ok', description: 'a\u0000b' }],
        ['lone surrogate', { title: 'half \ud800 pair' }],
        ['array body', [{ title: 'x' }]],
        ['string body', 'just a string'],
        ['null body', null],
      ];
      for (const [name, body] of invalid) {
        test(`400 problem for ${name}`, async () => {
          const raw = typeof body === 'string' ? JSON.stringify(body) : body;
          const r = await api('POST', '/api/todos', raw === null ? 'null' : raw);
          assertProblem(r, 400, assert);
        });
      }

      test('a validation problem names the failing fields', async () => {
        const r = await api<{ type: string; errors: { field: string; message: string }[] }>('POST', '/api/todos', {
          title: 7,
          description: 8,
        });
        assertProblem(r, 400, assert);
        assert.equal(r.body.type, 'urn:todo-service:problem:validation-error');
        const fields = r.body.errors.map((e) => e.field);
        assert.ok(fields.includes('body.title'), fields.join());
        assert.ok(fields.some((f) => f.startsWith('body.description')), fields.join());
      });

      test('invalid JSON, invalid UTF-8 and an empty body are 400 and store nothing', async () => {
        const before = (await todos.expect('listTodos', 200)).pagination.total_items;
        for (const raw of ['{"title": "x"', 'title=x', '{title: "x"}']) {
          const r = await api<{ type: string }>('POST', '/api/todos', raw, { 'content-type': 'application/json' });
          assertProblem(r, 400, assert);
          assert.equal(r.body.type, 'urn:todo-service:problem:invalid-json', raw);
        }
        // Bytes that are not UTF-8 are refused, not stored as U+FFFD.
        for (const bytes of [[0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d], [0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]]) {
          const res = await fetch(svc.url + '/api/todos', { method: 'POST', body: Buffer.from(bytes), headers: { 'content-type': 'application/json' } });
          assert.equal(res.status, 400);
          assert.equal(((await res.json()) as { type: string }).type, 'urn:todo-service:problem:invalid-json');
        }
        // An empty body is no body: the title is missing.
        const empty = await api<{ type: string }>('POST', '/api/todos', '', { 'content-type': 'application/json' });
        assertProblem(empty, 400, assert);
        assert.equal(empty.body.type, 'urn:todo-service:problem:validation-error');
        const noBody = await fetch(svc.url + '/api/todos', { method: 'POST' });
        assert.equal(noBody.status, 400);
        assert.equal((await todos.expect('listTodos', 200)).pagination.total_items, before);
      });

      test('__proto__ in a body is refused', async () => {
        const r = await api('POST', '/api/todos', '{"title":"x","__proto__":{"polluted":true}}');
        assertProblem(r, 400, assert);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      });
    });

    describe('get', () => {
      test('200 {todo, timestamp}', async () => {
        const t = await create('fetch me');
        const r = await todos.call('getTodo', { params: { id: t.id } });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body.todo, t);
        assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)));
      });

      test('ids are read like Go strconv.Atoi: +N works, 0/abc/1.5 and beyond ±(2^53 − 1) are 400, unknown and negative are 404', async () => {
        const t = await create('atoi');
        assert.equal((await api('GET', `/api/todos/+${t.id}`)).status, 200);
        for (const bad of ['0', '-0', 'abc', '1.5', '1e3', '%20', '99999999999999999999', '9223372036854775807', '9007199254740992', '-9007199254740992']) {
          const r = await api<{ type: string }>('GET', `/api/todos/${bad}`);
          assertProblem(r, 400, assert);
          assert.equal(r.body.type, 'urn:todo-service:problem:invalid-id');
        }
        for (const missing of ['999999999', '-1', '9007199254740991', '-9007199254740991']) {
          const r = await api<{ type: string }>('GET', `/api/todos/${missing}`);
          assertProblem(r, 404, assert);
          assert.equal(r.body.type, 'urn:todo-service:problem:todo-not-found');
        }
      });
    });

    describe('update (PUT and PATCH share the reference rules)', () => {
      for (const [method, operationId] of [['PUT', 'updateTodo'], ['PATCH', 'patchTodo']] as const) {
        test(`${method}: partial update, empty strings and null keep values, completed only when present`, async () => {
          const t = await create('original', 'original description');
          const put = (body: UpdateTodo) => todos.expect(operationId, 200, { params: { id: t.id }, body });

          let r = await put({ title: 'renamed' });
          assert.equal(typeof r.message, 'string');
          assert.equal(r.todo.title, 'renamed');
          assert.equal(r.todo.description, 'original description');
          assert.equal(r.todo.completed, false);

          r = await put({ title: '', description: '' });
          assert.equal(r.todo.title, 'renamed');
          assert.equal(r.todo.description, 'original description');

          r = await put({ title: null, description: null, completed: null });
          assert.equal(r.todo.title, 'renamed');
          assert.equal(r.todo.completed, false);

          r = await put({ completed: true });
          assert.equal(r.todo.completed, true);
          r = await put({ description: 'new description' });
          assert.equal(r.todo.completed, true, 'absent completed keeps it');
          assert.equal(r.todo.description, 'new description');
          r = await put({ completed: false, title: '  trimmed  ' });
          assert.equal(r.todo.completed, false);
          assert.equal(r.todo.title, 'trimmed');

          r = await put({});
          assert.equal(r.todo.title, 'trimmed');
          assert.equal(r.todo.created_at, t.created_at);
          assert.ok(r.todo.updated_at >= t.created_at);

          const stored = await todos.expect('getTodo', 200, { params: { id: t.id } });
          assert.deepEqual(stored.todo, r.todo);
        });

        test(`${method}: cannot change id or timestamps`, async () => {
          const t = await create('fixed');
          const r = await api<TodoEnvelope>(method, `/api/todos/${t.id}`, { id: 1, created_at: '2000-01-01T00:00:00Z', title: 'moved?' });
          assert.equal(r.body.todo.id, t.id);
          assert.equal(r.body.todo.created_at, t.created_at);
        });

        test(`${method}: errors are problems and change nothing`, async () => {
          const t = await create('stable', 'desc');
          assertProblem(await api(method, '/api/todos/abc', { title: 'x' }), 400, assert);
          assertProblem(await api(method, '/api/todos/0', { title: 'x' }), 400, assert);
          assertProblem(await api(method, '/api/todos/999999999', { title: 'x' }), 404, assert);
          for (const body of ['{bad json', '{"title": 5}', '{"completed": "yes"}', '{"title": "   "}', '{"title": "' + 'x'.repeat(201) + '"}']) {
            assertProblem(await api(method, `/api/todos/${t.id}`, body), 400, assert);
          }
          const stored = await todos.expect('getTodo', 200, { params: { id: t.id } });
          assert.deepEqual(stored.todo, t);
        });
      }
    });

    describe('delete', () => {
      test('returns the deleted todo; then it is gone', async () => {
        const t = await create('delete me', 'bye');
        const r = await todos.expect('deleteTodo', 200, { params: { id: t.id } });
        assert.equal(typeof r.message, 'string');
        assert.deepEqual(r.todo, t);
        assertProblem(await api('GET', `/api/todos/${t.id}`), 404, assert);
        assertProblem(await api('DELETE', `/api/todos/${t.id}`), 404, assert);
        assertProblem(await api('DELETE', '/api/todos/zero'), 400, assert);
      });

      test('ids are never reused after a delete', async () => {
        const t = await create('last');
        await todos.expect('deleteTodo', 200, { params: { id: t.id } });
        assert.ok((await create('next')).id > t.id);
      });
    });
  });
}
