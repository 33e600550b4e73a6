// API keys end to end: made with the real CLI (`node dist/main.cjs apikey …`) against the service's own
// database, used as Bearer tokens, listed, revoked (then 401 at once), forged (401); stored as a hash only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { MAIN, assertProblem, http, startService, type TestService } from '../support/helpers.js';
import { startIssuer } from '../support/issuer.js';

/**
 * The CLI in its own process, asynchronously: the service under test runs in this process, and a blocked event
 * loop would be its event loop too (load shedding would answer 503).
 */
function cli(dbPath: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'apikey', ...args], { env: { PATH: process.env.PATH, DATABASE_URL: `sqlite:${dbPath}`, AUTH_MODE: 'apikey' } }, (error, stdout, stderr) =>
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** `apikey create`: the key is alone on the last line of stdout. */
async function createKey(dbPath: string, ...args: string[]): Promise<{ id: string; key: string }> {
  const r = await cli(dbPath, 'create', ...args);
  assert.equal(r.status, 0, r.stderr);
  const key = r.stdout.trimEnd().split('\n').at(-1)!;
  assert.match(key, /^tdk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  return { id: key.slice(4, 20), key };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('AUTH_MODE=apikey', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ AUTH_MODE: 'apikey' });
  });
  after(async () => {
    await svc.dispose();
  });

  test('create, use, list, revoke (then 401 at once); the database holds only a hash', async () => {
    const { id, key } = await createKey(svc.dbPath, '--owner', 'build-bot', '--name', 'ci');
    const created = await http(svc.url, 'POST', '/api/todos', { body: { title: 'from the bot' }, headers: bearer(key) });
    assert.equal(created.status, 201, created.text);
    assert.equal(svc.logs.find((l) => l.method === 'POST' && l.status === 201)?.owner, 'build-bot');

    const listed = await cli(svc.dbPath, 'list');
    assert.equal(listed.status, 0);
    assert.match(listed.stdout, new RegExp(`${id}\\s+build-bot\\s+todos:read,todos:write\\s+"ci"\\s+created \\S+\\s+active`));
    assert.ok(!listed.stdout.includes(key.slice(21)), 'list never shows the secret');

    const db = new Database(svc.dbPath, { readonly: true });
    const dump = JSON.stringify(db.prepare('SELECT * FROM api_keys').all());
    db.close();
    assert.ok(!dump.includes(key.slice(21)), 'the secret is not stored');

    assert.equal((await cli(svc.dbPath, 'revoke', id)).status, 0);
    const after = await http(svc.url, 'GET', '/api/todos', { headers: bearer(key) });
    assertProblem(after, 401, assert);
    assert.match(after.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match((await cli(svc.dbPath, 'list')).stdout, /revoked/);
    assert.equal((await cli(svc.dbPath, 'revoke', id)).status, 1, 'a revoked key cannot be revoked again');
  });

  test('forged, truncated and unknown keys are 401', async () => {
    const { key } = await createKey(svc.dbPath, '--owner', 'victim');
    const secret = key.slice(21);
    const flipped = secret[0] === 'A' ? `B${secret.slice(1)}` : `A${secret.slice(1)}`;
    for (const forged of [`${key.slice(0, 21)}${flipped}`, key.slice(0, -1), `tdk_0000000000000000_${secret}`, 'tdk_', `${key}x`]) {
      assertProblem(await http(svc.url, 'GET', '/api/todos', { headers: bearer(forged) }), 401, assert);
    }
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(key) })).status, 200);
  });

  test('a key with todos:read only cannot write; the CLI refuses unknown scopes and a missing owner', async () => {
    const { key } = await createKey(svc.dbPath, '--owner', 'reader', '--scopes', 'todos:read');
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(key) })).status, 200);
    assertProblem(await http(svc.url, 'POST', '/api/todos', { body: { title: 'no' }, headers: bearer(key) }), 403, assert);
    assert.equal((await cli(svc.dbPath, 'create', '--owner', 'x', '--scopes', 'admin')).status, 1);
    assert.equal((await cli(svc.dbPath, 'create')).status, 1);
  });

  test('apikey mode takes no JWT', async () => {
    const issuer = await startIssuer();
    try {
      const r = await http(svc.url, 'GET', '/api/todos', { headers: bearer(await issuer.token({ sub: 'alice' })) });
      assertProblem(r, 401, assert);
    } finally {
      await issuer.stop();
    }
  });
});

test('jwt mode takes API keys too', async () => {
  const issuer = await startIssuer();
  const svc = await startService(issuer.env());
  try {
    const { key } = await createKey(svc.dbPath, '--owner', 'script');
    assert.equal((await http(svc.url, 'POST', '/api/todos', { body: { title: 'k' }, headers: bearer(key) })).status, 201);
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(await issuer.token({ sub: 'alice' })) })).status, 200);
  } finally {
    await svc.dispose();
    await issuer.stop();
  }
});
