// AUTH_MODE=jwt against a real local issuer (test/support/issuer.ts): every token attack is a 401 with an RFC 6750
// challenge, scopes are enforced (403 insufficient_scope), keys rotate without a restart, an issuer that is down
// at start-up does not stop the service (readiness says so), and tokens never reach the log.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, importJWK } from 'jose';
import { assertProblem, http, startService, waitFor, type TestService } from '../support/helpers.js';
import { startIssuer, unsignedToken, type Issuer } from '../support/issuer.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('AUTH_MODE=jwt', () => {
  let issuer: Issuer;
  let svc: TestService;
  before(async () => {
    issuer = await startIssuer();
    svc = await startService(issuer.env());
  });
  after(async () => {
    await svc.dispose();
    await issuer.stop();
  });

  test('a valid token reaches the owner\'s todos; the log names the owner, never the token', async () => {
    const token = await issuer.token({ sub: 'alice' });
    const created = await http(svc.url, 'POST', '/api/todos', { body: { title: 'mine' }, headers: bearer(token) });
    assert.equal(created.status, 201, created.text);
    const list = await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos', { headers: bearer(token) });
    assert.equal(list.body.pagination.total_items, 1);
    const line = svc.logs.find((l) => l.msg === 'request completed' && l.method === 'POST');
    assert.equal(line?.owner, 'alice');
    assert.ok(!JSON.stringify(svc.logs).includes(token.split('.')[2]!), 'no part of the token is logged');
  });

  test('token attacks: each one a 401 with WWW-Authenticate: Bearer, and nothing is created', async () => {
    const good = await issuer.token({ sub: 'mallory' });
    const [header, payload, signature] = good.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const published = issuer.published[0]!;
    // HS256 keyed with the issuer's public key: the classic algorithm-confusion forgery.
    const publicPem = createPublicKey({ key: published.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hmacWithPublicKey = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', kid: published.kid }).sign(Buffer.from(publicPem));
    const impostor = await issuer.newKey('ES256', published.kid); // same kid, another key
    const stranger = await issuer.newKey('ES256', 'never-published');
    const attacks: [string, string | undefined][] = [
      ['no token', undefined],
      ['malformed', 'not.a.jwt'],
      ['a Basic credential', undefined],
      ['alg none', unsignedToken({ ...claims })],
      ['HS256 signed with the public key', hmacWithPublicKey],
      ['wrong issuer', await issuer.token({ sub: 'mallory', iss: 'https://evil.example.com' })],
      ['wrong audience', await issuer.token({ sub: 'mallory', aud: 'another-api' })],
      ['expired', await issuer.token({ sub: 'mallory' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
      ['not yet valid', await issuer.token({ sub: 'mallory' }, { notBefore: Math.floor(Date.now() / 1000) + 600 })],
      ['another key with the same kid', await issuer.token({ sub: 'mallory' }, { key: impostor })],
      ['an unknown kid', await issuer.token({ sub: 'mallory' }, { key: stranger })],
      ['a tampered payload', `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url')}.${signature}`],
      ['no sub', await new SignJWT({ scope: 'todos:write' }).setProtectedHeader({ alg: 'ES256', kid: published.kid }).setIssuer(issuer.url).setAudience(issuer.audience).setExpirationTime('5m').sign(published.privateKey)],
      ['an ID token (typ)', await issuer.token({ sub: 'mallory' }, { header: { typ: 'id_token+jwt' } })],
    ];
    for (const [name, token] of attacks) {
      const headers: Record<string, string> = name === 'a Basic credential' ? { authorization: 'Basic YWxpY2U6c2VjcmV0' } : token === undefined ? {} : bearer(token);
      const r = await http(svc.url, 'POST', '/api/todos', { body: { title: name }, headers });
      assertProblem(r, 401, assert);
      const challenge = r.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer realm="todo-service"/, name);
      if (token !== undefined) assert.match(challenge, /error="invalid_(token|request)"/, `${name}: ${challenge}`);
      assert.equal((r.body as { type: string }).type, 'urn:todo-service:problem:unauthorized', name);
    }
    // Nothing was stored for anyone.
    const mallory = await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos', { headers: bearer(good) });
    assert.equal(mallory.body.pagination.total_items, 0);
    // The public key really is what the forgery used (the test can fail): verifying it with jose needs that key.
    assert.ok(await importJWK(published.publicJwk, 'ES256'));
  });

  test('scopes: todos:read may read but not write (403 insufficient_scope); todos:write may not read', async () => {
    const reader = await issuer.token({ sub: 'rita', scope: 'todos:read' });
    const writer = await issuer.token({ sub: 'rita', scope: 'todos:write' });
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(reader) })).status, 200);
    const refused = await http(svc.url, 'POST', '/api/todos', { body: { title: 'x' }, headers: bearer(reader) });
    assertProblem(refused, 403, assert);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="todos:write"/);
    assert.equal((await http(svc.url, 'POST', '/api/todos', { body: { title: 'w' }, headers: bearer(writer) })).status, 201);
    assertProblem(await http(svc.url, 'GET', '/api/todos', { headers: bearer(writer) }), 403, assert);
    // `scp` as an array works too (some providers write it so).
    const scp = await issuer.token({ sub: 'rita', scope: undefined, scp: ['todos:read'] } as never);
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(scp) })).status, 200);
  });

  test('public routes stay public: service info, health, probes, the document', async () => {
    for (const path of ['/', '/health', '/livez', '/readyz', '/openapi.json']) assert.equal((await fetch(svc.url + path)).status, 200, path);
  });

  test('the document declares the Bearer scheme and the 401/403 of every todo operation', async () => {
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
    };
    assert.deepEqual(doc.components.securitySchemes.bearer?.scheme, 'bearer');
    for (const [path, item] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/todos'))) {
      for (const [method, op] of Object.entries(item)) {
        assert.deepEqual(op.security, [{ bearer: [] }], `${method} ${path}`);
        assert.ok(op.responses['401'] && op.responses['403'], `${method} ${path} documents 401 and 403`);
      }
    }
  });

  test('key rotation: a newly published key is accepted without a restart; a removed key is refused after the refresh', async () => {
    const rotated = await issuer.newKey('RS256');
    const early = await issuer.token({ sub: 'ivan' }, { key: rotated });
    assertProblem(await http(svc.url, 'GET', '/api/todos', { headers: bearer(early) }), 401, assert); // not published yet
    issuer.published.push(rotated);
    await new Promise((resolve) => setTimeout(resolve, 150)); // past AUTH_JWKS_COOLDOWN_MS=100
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(early) })).status, 200, 'the new key is fetched for its unknown kid');

    // The old key is retired: its tokens stop working once the cached set is refreshed (AUTH_JWKS_MAX_AGE_MS).
    const retired = issuer.published.shift()!;
    const short = await startService(issuer.env({ AUTH_JWKS_MAX_AGE_MS: '300' }));
    try {
      const oldToken = await issuer.token({ sub: 'ivan' }, { key: retired });
      issuer.published.unshift(retired);
      assert.equal((await http(short.url, 'GET', '/api/todos', { headers: bearer(oldToken) })).status, 200);
      issuer.published.shift();
      await waitFor('the retired key refused', async () =>
        (await http(short.url, 'GET', '/api/todos', { headers: bearer(oldToken) })).status === 401 ? true : undefined,
      );
      assert.equal((await http(short.url, 'GET', '/api/todos', { headers: bearer(await issuer.token({ sub: 'ivan' }, { key: rotated })) })).status, 200);
    } finally {
      await short.dispose();
      issuer.published.unshift(retired);
    }
  });

  test('unknown kids cannot hammer the issuer: at most one key-set fetch per cooldown', async () => {
    const slow = await startService(issuer.env({ AUTH_JWKS_COOLDOWN_MS: '60000' }));
    try {
      await http(slow.url, 'GET', '/api/todos', { headers: bearer(await issuer.token({ sub: 'a' })) }); // the first fetch
      const before = issuer.jwksFetches;
      for (let i = 0; i < 20; i++) {
        const forged = await issuer.token({ sub: 'a' }, { key: await issuer.newKey('ES256', `random-${i}`) });
        assertProblem(await http(slow.url, 'GET', '/api/todos', { headers: bearer(forged) }), 401, assert);
      }
      assert.ok(issuer.jwksFetches - before <= 1, `${issuer.jwksFetches - before} fetches for 20 unknown kids`);
    } finally {
      await slow.dispose();
    }
  });
});

test('an issuer that is down at start-up: the service starts, /readyz says so, and becomes ready when it answers', async () => {
  const issuer = await startIssuer();
  const env = issuer.env();
  await issuer.stop();
  const svc = await startService(env);
  try {
    const ready = await fetch(`${svc.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /identity provider/);
    assert.equal((await fetch(`${svc.url}/health`)).status, 200, 'the service serves');
    await issuer.start();
    await waitFor('ready once the issuer answers', async () => ((await fetch(`${svc.url}/readyz`)).status === 200 ? true : undefined), 20_000);
    const token = await issuer.token({ sub: 'late' });
    assert.equal((await http(svc.url, 'GET', '/api/todos', { headers: bearer(token) })).status, 200);
  } finally {
    await svc.dispose();
    await issuer.stop();
  }
});

test('AUTH_MODE=jwt refuses to start without AUTH_ISSUER and AUTH_AUDIENCE, and with an HMAC or none algorithm', async () => {
  const { loadConfig } = await import('../../src/config.js');
  assert.throws(() => loadConfig({ AUTH_MODE: 'jwt' }), /AUTH_ISSUER: required[\s\S]*AUTH_AUDIENCE: required/);
  assert.throws(() => loadConfig({ AUTH_MODE: 'jwt', AUTH_ISSUER: 'https://i', AUTH_AUDIENCE: 'a', AUTH_ALGORITHMS: 'RS256,HS256,none' }), /HS256, none not allowed/);
});
