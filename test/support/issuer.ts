// A local OAuth issuer for the tests: a discovery document, a JWKS whose keys the test adds and removes, and
// tokens signed with any of them (or forged: alg none, HS256 with the public key, tampered). Keys are made with
// jose; nothing here is mocked on the service's side: it fetches and verifies as it would from a real issuer.
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface Issuer {
  url: string;
  audience: string;
  /** The keys the JWKS publishes now (change it to rotate). */
  published: SigningKey[];
  /** Requests for the JWKS so far. */
  jwksFetches: number;
  newKey(alg?: SigningKey['alg'], kid?: string): Promise<SigningKey>;
  /** A token for `sub` (claims and header override the defaults), signed with `key` (default: the first published). */
  token(claims?: JWTPayload & { scope?: string }, options?: { key?: SigningKey; header?: Record<string, unknown>; expiresIn?: string | number; notBefore?: string | number }): Promise<string>;
  /** The env of a service that trusts this issuer. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Stops answering (connections refused) until start() again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

let counter = 0;

export async function startIssuer(audience = 'todo-api'): Promise<Issuer> {
  let server: Server | undefined;
  let port = 0;
  const issuer: Issuer = {
    url: '',
    audience,
    published: [],
    jwksFetches: 0,
    async newKey(alg = 'ES256', kid = `key-${++counter}`) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
    },
    async token(claims = {}, options = {}) {
      const key = options.key ?? issuer.published[0]!;
      return new SignJWT({ scope: 'todos:read todos:write', ...claims })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...options.header })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer.url)
        .setAudience(claims.aud ?? audience)
        .setSubject(typeof claims.sub === 'string' ? claims.sub : 'alice')
        .setIssuedAt()
        .setNotBefore(options.notBefore ?? '0s')
        .setExpirationTime(options.expiresIn ?? '10m')
        .sign(key.privateKey);
    },
    env: (extra = {}) => ({
      AUTH_MODE: 'jwt',
      AUTH_ISSUER: issuer.url,
      AUTH_AUDIENCE: audience,
      AUTH_JWKS_COOLDOWN_MS: '100',
      AUTH_CLOCK_SKEW_SECONDS: '5',
      ...extra,
    }),
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); });
    },
    async start() {
      server = createServer((req, res) => {
        if (req.url === '/.well-known/openid-configuration') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` }));
        } else if (req.url === '/jwks') {
          issuer.jwksFetches++;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: issuer.published.map((k) => k.publicJwk) }));
        } else {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
      issuer.url = `http://127.0.0.1:${port}`;
    },
  };
  await issuer.start();
  issuer.published.push(await issuer.newKey());
  return issuer;
}

/** An unsigned token (`alg: none`): header and payload in base64url, an empty signature. */
export function unsignedToken(payload: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}
