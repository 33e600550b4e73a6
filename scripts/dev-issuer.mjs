#!/usr/bin/env node
// A token issuer for trying AUTH_MODE=jwt on one machine (`npm run dev:issuer`). Development only: it signs
// whatever it is asked for, listens on loopback, and forgets its key when it stops. Never part of the service.
//
//   GET  /.well-known/openid-configuration   discovery: issuer, jwks_uri, token_endpoint
//   GET  /jwks.json                          the public key (ES256)
//   GET  /token?sub=alice[&scope=…][&aud=…][&ttl=seconds]   an access token, as plain text (for shells)
//   POST /token  (JSON or form: sub, scope, aud, ttl)         {access_token, token_type, expires_in}
//
// Env: DEV_ISSUER_PORT (9999), DEV_ISSUER_AUDIENCE (todo-service).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const port = Number(process.env.DEV_ISSUER_PORT ?? 9999);
const issuer = `http://127.0.0.1:${port}`;
const defaultAudience = process.env.DEV_ISSUER_AUDIENCE ?? 'todo-service';
const kid = randomUUID();
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] };

async function token({ sub, scope = 'todos:read todos:write', aud = defaultAudience, ttl = '3600' }) {
  if (!sub) throw new Error('sub is required');
  const lifetime = Math.min(Math.max(Number(ttl) || 3600, 1), 86_400);
  const jwt = await new SignJWT({ scope })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(aud)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(`${lifetime}s`)
    .setJti(randomUUID())
    .sign(privateKey);
  return { access_token: jwt, token_type: 'Bearer', expires_in: lifetime };
}

const json = (res, status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
        return json(res, 200, { issuer, jwks_uri: `${issuer}/jwks.json`, token_endpoint: `${issuer}/token`, id_token_signing_alg_values_supported: ['ES256'] });
      }
      if (req.method === 'GET' && url.pathname === '/jwks.json') return json(res, 200, jwks);
      if (url.pathname === '/token' && req.method === 'GET') {
        const t = await token(Object.fromEntries(url.searchParams));
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(`${t.access_token}\n`);
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const raw = Buffer.concat(chunks).toString('utf8');
        const params = (req.headers['content-type'] ?? '').includes('json') ? JSON.parse(raw || '{}') : Object.fromEntries(new URLSearchParams(raw));
        return json(res, 200, await token(params));
      }
      json(res, 404, { error: 'not_found' });
    } catch (error) {
      json(res, 400, { error: 'invalid_request', error_description: error.message });
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(
    `dev issuer at ${issuer} (development only; its key lives as long as this process)\n` +
      `  run the service:  AUTH_MODE=jwt AUTH_ISSUER=${issuer} AUTH_AUDIENCE=${defaultAudience} npm start\n` +
      `  a token:          curl -s '${issuer}/token?sub=alice'\n`,
  );
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
