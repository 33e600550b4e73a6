// OAuth 2 / OIDC access tokens (RFC 9068 JWTs), verified with `jose`: the signature against the issuer's key set,
// an explicit allow-list of asymmetric algorithms, `iss`, `aud`, `exp` and `nbf` with a small clock skew. The
// key set comes from AUTH_JWKS_URL or the issuer's discovery document; jose caches it, refetches it when a token
// names an unknown `kid` (at most once per AUTH_JWKS_COOLDOWN_MS) and after AUTH_JWKS_MAX_AGE_MS, so a key
// rotation needs no restart. An issuer that does not answer at start-up does not stop the service: discovery is
// retried in the background and readiness reports it until the keys are in.
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import { scopesOf, type Identity } from './identity.js';

export type JwtOptions = NonNullable<Config['auth']['jwt']>;

/** Why a token was refused: the RFC 6750 error description of the 401. */
export class TokenRefused extends Error {}
/** The issuer's keys cannot be had right now: a 503, not the token's fault. */
export class KeysUnavailable extends Error {}

/** RFC 9068 says `at+jwt`; many providers still write `JWT` or nothing. Anything else is another kind of token. */
const ACCESS_TOKEN_TYPES = new Set([undefined, 'at+jwt', 'application/at+jwt', 'JWT']);
const FETCH_TIMEOUT_MS = 5000;

export class JwtVerifier {
  private keys: (JWTVerifyGetKey & { jwks(): unknown; reload(): Promise<void> }) | undefined;
  private discovering: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly options: JwtOptions,
    private readonly logger: Logger,
  ) {}

  /** Starts discovery and the first fetch of the keys in the background; failures are logged and retried. */
  start(): void {
    this.ready().then(
      () => {
        if (this.failures > 0) this.logger.info({ issuer: this.options.issuer }, 'auth: the issuer answers again; keys loaded');
        this.failures = 0;
      },
      (error: Error) => {
        this.failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
        this.logger.warn({ err: error.message, issuer: this.options.issuer, retry_in_ms: delay }, "auth: cannot load the issuer's keys");
        if (this.closed) return;
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.start(), delay).unref();
      },
    );
  }

  /** Resolves once the key set has been fetched at least once (the readiness check); tries now if not. */
  async ready(): Promise<void> {
    const keys = await this.keySet();
    if (keys.jwks() !== undefined) return;
    try {
      await keys.reload();
    } catch (error) {
      throw new KeysUnavailable(`the issuer's keys cannot be loaded: ${(error as Error).message}`, { cause: error });
    }
  }

  async verify(token: string): Promise<Identity> {
    const keys = await this.keySet();
    let result;
    try {
      result = await jwtVerify(token, keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms,
        clockTolerance: this.options.clockSkewSeconds,
        requiredClaims: ['exp', this.options.ownerClaim],
      });
    } catch (error) {
      throw refusal(error);
    }
    const { payload, protectedHeader } = result;
    if (!ACCESS_TOKEN_TYPES.has(protectedHeader.typ)) throw new TokenRefused(`the token is a "${protectedHeader.typ}", not an access token`);
    const owner = payload[this.options.ownerClaim];
    if (typeof owner !== 'string' || owner === '') throw new TokenRefused(`the token's ${this.options.ownerClaim} claim is not a name`);
    return { owner, scopes: scopesOf(payload), via: 'jwt' };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  /** The remote key set, after discovery of its URL when AUTH_JWKS_URL is not given. */
  private async keySet() {
    if (this.keys) return this.keys;
    this.discovering ??= this.discover().finally(() => (this.discovering = undefined));
    await this.discovering;
    return this.keys!;
  }

  private async discover(): Promise<void> {
    try {
      const url = this.options.jwksUrl ?? (await this.jwksUriOf(this.options.issuer));
      this.keys = createRemoteJWKSet(new URL(url), {
        timeoutDuration: FETCH_TIMEOUT_MS,
        cooldownDuration: this.options.jwksCooldownMs,
        cacheMaxAge: this.options.jwksMaxAgeMs,
      });
    } catch (error) {
      throw new KeysUnavailable(`the issuer's key set cannot be found: ${(error as Error).message}`, { cause: error });
    }
  }

  private async jwksUriOf(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
    if (doc.issuer !== issuer) throw new Error(`${url} names the issuer ${JSON.stringify(doc.issuer)}, not ${issuer}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} names no jwks_uri`);
    return doc.jwks_uri;
  }
}

/** jose's errors as a refusal (the token's fault) or an outage (the issuer's). */
function refusal(error: unknown): Error {
  if (error instanceof errors.JWKSTimeout) return new KeysUnavailable('the issuer did not answer in time', { cause: error });
  if (error instanceof errors.JWTExpired) return new TokenRefused('the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) return new TokenRefused(`the token's ${error.claim} claim is not accepted (${error.reason})`);
  if (error instanceof errors.JWKSNoMatchingKey) return new TokenRefused('the token is signed with a key the issuer does not publish');
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenRefused('the token is signed with an algorithm that is not accepted');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenRefused('the token signature does not verify');
  if (error instanceof errors.JOSEError) return new TokenRefused('the token is not a valid JWT');
  // A key set fetch that failed (network, non-JSON, HTTP error) while looking for a new kid.
  return new KeysUnavailable(`the issuer's keys cannot be loaded: ${(error as Error).message}`, { cause: error });
}
