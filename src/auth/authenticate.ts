// Who is calling, for the routes that name a scope in their config (`config: { scope: 'todos:read' }`): an
// onRequest hook reads `Authorization: Bearer <token>`, verifies it as an API key (prefix `tdk_`) or, in jwt
// mode, as an access token, and puts the caller's identity on the request — or answers 401 with an RFC 6750
// challenge, 403 when the token lacks the route's scope, 503 when the issuer's keys cannot be had. In
// AUTH_MODE=none every request gets the shared identity and no header is read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { HttpProblem, ProblemType } from '../http/problem.js';
import type { Logger } from '../telemetry/logger.js';
import type { ApiKeyStore } from './api-key-store.js';
import { looksLikeApiKey, verifyApiKey } from './api-keys.js';
import { SHARED_IDENTITY, type Identity, type Scope } from './identity.js';
import { JwtVerifier, KeysUnavailable, TokenRefused } from './jwt.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, set before the handler of every route that names a scope; null elsewhere. */
    identity: Identity | null;
  }
  interface FastifyContextConfig {
    /** The scope a caller needs for this route; routes without one are public (probes, docs, service info). */
    scope?: Scope;
  }
}

const REALM = 'todo-service';

export interface Authenticator {
  /** The identity behind an Authorization header; throws the 401/503 problem otherwise. */
  authenticate(authorization: string | undefined): Promise<Identity>;
  /** Readiness: resolves when tokens can be verified (jwt mode: the issuer's keys are in). */
  ready(): Promise<void>;
  close(): void;
}

export function createAuthenticator(auth: Config['auth'], apiKeys: ApiKeyStore, logger: Logger): Authenticator {
  if (auth.mode === 'none') return { authenticate: async () => SHARED_IDENTITY, ready: async () => undefined, close: () => undefined };
  const jwt = auth.jwt && new JwtVerifier(auth.jwt, logger);
  jwt?.start();
  return {
    async authenticate(authorization) {
      const token = bearerToken(authorization);
      if (looksLikeApiKey(token)) {
        const identity = await verifyApiKey(apiKeys, token);
        if (!identity) throw unauthorized('invalid_token', 'the API key is not valid or has been revoked');
        return identity;
      }
      if (!jwt) throw unauthorized('invalid_token', 'only API keys are accepted (AUTH_MODE=apikey)');
      try {
        return await jwt.verify(token);
      } catch (error) {
        if (error instanceof TokenRefused) throw unauthorized('invalid_token', error.message);
        if (error instanceof KeysUnavailable) {
          logger.warn({ err: error.message }, 'auth: a token could not be verified');
          throw new HttpProblem({ status: 503, type: ProblemType.unavailable, title: 'Cannot verify tokens', detail: "The identity provider's keys cannot be loaded right now; retry shortly.", headers: { 'retry-after': '5' } });
        }
        throw error;
      }
    },
    ready: async () => jwt?.ready(),
    close: () => jwt?.close(),
  };
}

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1); a 401 with the challenge for anything else. */
function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') throw unauthorized(undefined, 'this operation needs credentials: Authorization: Bearer <token>');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match) throw unauthorized('invalid_request', 'the Authorization header is not "Bearer <token>"');
  return match[1]!;
}

/** A challenge value: `Bearer realm="…", error="…", error_description="…"` (quotes and backslashes removed). */
function challenge(params: Record<string, string | undefined>): string {
  const parts = Object.entries({ realm: REALM, ...params })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}="${value.replace(/["\\]/g, '')}"`);
  return `Bearer ${parts.join(', ')}`;
}

function unauthorized(error: 'invalid_token' | 'invalid_request' | undefined, description: string): HttpProblem {
  return new HttpProblem({
    status: 401,
    type: ProblemType.unauthorized,
    title: 'Unauthorized',
    detail: `Not authenticated: ${description}.`,
    headers: { 'www-authenticate': challenge({ error, error_description: error && description }) },
  });
}

function insufficientScope(scope: Scope): HttpProblem {
  return new HttpProblem({
    status: 403,
    type: ProblemType.insufficientScope,
    title: 'Insufficient scope',
    detail: `This operation needs the scope ${scope}, which the token does not grant.`,
    headers: { 'www-authenticate': challenge({ error: 'insufficient_scope', error_description: `needs ${scope}`, scope }) },
  });
}

/** The caller behind an Authorization value (an HTTP header, or gRPC's `authorization` metadata), if it has `scope`. */
export async function authorize(authenticator: Authenticator, authorization: string | undefined, scope: Scope): Promise<Identity> {
  const identity = await authenticator.authenticate(authorization);
  if (!identity.scopes.has(scope)) throw insufficientScope(scope);
  return identity;
}

/** The hook: routes with `config.scope` get `req.identity`, or a refusal before their body is read. */
export function addAuthentication(app: FastifyInstance, authenticator: Authenticator, mode: Config['auth']['mode']): void {
  app.decorateRequest('identity', null);
  if (mode === 'none') {
    // Nothing to read or verify: every caller is the shared identity, without the cost of an async hook.
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.routeOptions.config.scope !== undefined) req.identity = SHARED_IDENTITY;
      done();
    });
    return;
  }
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const scope = req.routeOptions.config.scope;
    if (scope === undefined) return;
    req.identity = await authorize(authenticator, req.headers.authorization, scope);
  });
}

/** The caller of a route that names a scope (the hook has run: a missing identity is a wiring bug, a 500). */
export function callerOf(req: FastifyRequest): Identity {
  if (!req.identity) throw new Error(`no identity on ${req.method} ${req.url}: the route names no scope`);
  return req.identity;
}
