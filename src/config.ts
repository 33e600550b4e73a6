// Configuration comes only from the environment (plus an optional .env file, where the real environment wins).
// Every key is declared once below — name, type, default and meaning — and `loadConfig` validates all of them
// together, so a bad start names every bad key in one message. The README's config table mirrors this list.
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import Type, { type Static, type TSchema } from 'typebox';
import Value from 'typebox/value';

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
);
const OtlpProtocol = Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')]);

/** The environment contract of the service. `description` is what the README's config table says. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'TCP port of the HTTP API (0 picks a free one).' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Interface to listen on.' }),
  NODE_ENV: Type.String({ minLength: 1, default: 'development', description: 'Environment name reported by `GET /`.' }),
  APP_VERSION: Type.Optional(Type.String({ minLength: 1, description: 'Version reported by `GET /` and `/health`; default: the build\'s version (package.json).' })),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:.+|postgres(ql)?://.+)$', default: 'sqlite:./data/todos.db', description: '`sqlite:<path>` (file created on first start; `sqlite::memory:` for a throwaway store) or `postgres://user:pass@host:5432/db`.' }),
  SQLITE_SYNCHRONOUS: Type.Union([Type.Literal('NORMAL'), Type.Literal('FULL')], { default: 'NORMAL', description: 'SQLite `synchronous` in WAL mode: NORMAL survives a process crash, FULL also a power loss (slower writes). See docs/DECISIONS.md.' }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'PostgreSQL: connections in the pool of each replica.' }),
  DB_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 5000, description: 'PostgreSQL: longest a query (or waiting for a pooled connection) may take before the request fails with 503.' }),
  DB_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 30_000, description: 'PostgreSQL: how long start-up retries (with backoff) to reach the database before giving up.' }),
  MIGRATE_ON_START: Type.Boolean({ default: true, description: 'Apply pending migrations at start (under an advisory lock). `false`: refuse to start while any are pending; run `npm run migrate` instead.' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+$', description: 'Optional `redis://host:6379/0`: a shared read cache for list pages and single todos.' })),
  REDIS_KEY_PREFIX: Type.String({ minLength: 1, default: 'todo:', description: 'Prefix of every Redis key the service writes.' }),
  CACHE_TTL_SECONDS: Type.Integer({ minimum: 1, default: 60, description: 'Lifetime of a cached entry; also bounds staleness if a replica cannot reach Redis to invalidate.' }),
  REDIS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 100, description: 'A Redis command slower than this is abandoned and the cache is bypassed for a second.' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'The URL clients use to reach the API (e.g. `https://todos.example.com`); the OpenAPI document names it as its server. Default: relative (`/`).' })),
  MANAGEMENT_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'Serve `/metrics`, `/livez`, `/readyz` on this separate port instead of the API port, away from the public ingress.' })),
  GRPC_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'Serve the todos over gRPC, gRPC-Web and the Connect protocol (HTTP/2 cleartext; TLS is the ingress\'s job), with gRPC health checking and server reflection, on this port. Unset: off.' })),
  SHUTDOWN_DELAY_MS: Type.Integer({ minimum: 0, default: 5000, description: 'On SIGTERM, `/readyz` turns 503 at once but requests are still served this long (load balancers and Kubernetes endpoints catch up), then the server drains.' }),
  READINESS_REQUIRES_REDIS: Type.Boolean({ default: false, description: 'Whether `/readyz` fails while Redis is down. Default: Redis is reported as degraded but the replica stays ready, since it serves fine without the cache.' }),
  METRICS_ENABLED: Type.Boolean({ default: true, description: '`false`: no Prometheus metrics are kept and `/metrics` answers 404 (`/metrics/json` stays).' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://.+', description: 'OTLP/HTTP collector base URL (traces go to `<url>/v1/traces`). Unset (and no traces endpoint): tracing is off and its SDK is never loaded.' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://.+', description: 'Full OTLP/HTTP traces URL; wins over the base endpoint.' })),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Union(OtlpProtocol.anyOf, {
    default: 'http/protobuf',
    description: 'OTLP/HTTP encoding: `http/protobuf` (the specification\'s default) or `http/json`; `grpc` is not supported.',
  }),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Type.Optional(Type.Union(OtlpProtocol.anyOf, { description: 'The encoding of traces; wins over the general protocol.' })),
  OTEL_EXPORTER_OTLP_HEADERS: Type.Optional(Type.String({ description: 'Headers for the collector, `key=value,key2=value2`.' })),
  OTEL_EXPORTER_OTLP_TIMEOUT: Type.Integer({ minimum: 1, default: 10_000, description: 'Milliseconds an export batch may take, retries included, before it is dropped.' }),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'todo-service', description: 'service.name of the exported spans.' }),
  OTEL_RESOURCE_ATTRIBUTES: Type.Optional(Type.String({ description: 'Extra resource attributes, `key=value,…` (e.g. `deployment.environment=prod`).' })),
  OTEL_TRACES_SAMPLER: Type.Union(
    ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'].map((s) => Type.Literal(s)),
    { default: 'parentbased_always_on', description: 'Standard sampler name; `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.1` samples 10% of new traces.' },
  ),
  OTEL_TRACES_SAMPLER_ARG: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Ratio for the `*traceidratio` samplers.' }),
  OTEL_BSP_SCHEDULE_DELAY: Type.Integer({
    minimum: 1,
    default: 1000,
    description: 'Milliseconds between span export batches (1000, not the specification\'s 5000: docs/DECISIONS.md, "Observability").',
  }),
  OTEL_SDK_DISABLED: Type.Boolean({ default: false, description: '`true` turns tracing off even with an endpoint set.' }),
  LOG_LEVEL: Type.Union(LogLevel.anyOf, { default: 'info', description: 'pino level; `info` logs one line per request.' }),
  LOG_FORMAT: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json', description: '`json` lines on stdout, or `pretty` for humans (development).' }),
  CORS_ORIGINS: Type.String({ minLength: 1, default: '*', description: 'Comma-separated allowed origins, or `*` for any origin (then never with credentials).' }),
  CORS_CREDENTIALS: Type.Boolean({ default: false, description: 'Send `Access-Control-Allow-Credentials: true`; only allowed with an explicit `CORS_ORIGINS` list.' }),
  BODY_LIMIT_BYTES: Type.Optional(Type.Integer({ minimum: 1, description: 'Largest accepted request body; larger gets 413. Default: a few KiB above the largest valid todo body (32 KiB).' })),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000, description: 'On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut.' }),
  TRUST_PROXY: Type.String({ minLength: 1, default: 'false', description: '`true`, `false`, or a comma-separated list of proxy addresses/CIDRs whose `X-Forwarded-*` headers are believed (client address for logs and rate limits).' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 30_000, description: 'The longest a client may take to send a whole request, body included; then the connection is answered 408 and closed.' }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10_000, description: 'The longest a client may take to send the request headers (at most REQUEST_TIMEOUT_MS).' }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 72_000, description: 'An idle kept-alive connection is closed after this long. Keep it above the idle timeout of the load balancer in front (60 s on most).' }),
  MAX_CONNECTIONS: Type.Integer({ minimum: 0, default: 1024, description: 'Open connections per process (API port); past it new connections are closed at once. 0: no limit.' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 0, description: 'Requests per client per window on the API (429 past it); 0 turns rate limiting off. Counted in Redis when REDIS_URL is set.' }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1, default: 60_000, description: 'The rate-limit window.' }),
  OVERLOAD_HEAP_RATIO: Type.Number({ minimum: 0, maximum: 1, default: 0.9, description: 'Shed load (503 + Retry-After) while the V8 heap in use is above this share of its limit; 0 turns it off.' }),
  OVERLOAD_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000, description: 'Shed load (503 + Retry-After) while the mean event-loop delay is above this; 0 turns it off.' }),
  DOCS_ENABLED: Type.Boolean({ default: true, description: '`false`: no docs page and no OpenAPI document (`/docs`, `/openapi.json`, `/openapi.yaml` answer 404).' }),
  REQUIRE_IF_MATCH: Type.Boolean({ default: false, description: '`true`: PUT, PATCH and DELETE without `If-Match` are refused with 428 (lost updates become impossible, but Go-era clients that send none stop working).' }),
  IDEMPOTENCY_TTL_SECONDS: Type.Integer({ minimum: 1, default: 86_400, description: 'How long an `Idempotency-Key` is remembered: a repeat within it gets the stored answer; after it, the request runs again.' }),
  AUTH_MODE: Type.Union([Type.Literal('none'), Type.Literal('jwt'), Type.Literal('apikey')], {
    default: 'none',
    description: '`none`: one shared list, no credentials (the Go contract). `jwt`: OAuth 2 / OIDC access tokens or API keys as `Authorization: Bearer`. `apikey`: API keys only.',
  }),
  AUTH_ISSUER: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: '`jwt`: the issuer (`iss`) tokens must name; its `/.well-known/openid-configuration` names the key set unless AUTH_JWKS_URL does.' })),
  AUTH_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: '`jwt`: the audience (`aud`) tokens must name: this API.' })),
  AUTH_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: '`jwt`: the issuer\'s key set (JWKS) URL; default: discovered from AUTH_ISSUER.' })),
  AUTH_ALGORITHMS: Type.String({ minLength: 1, default: 'RS256,ES256,EdDSA', description: '`jwt`: the signature algorithms accepted (asymmetric ones only: RS, PS, ES, EdDSA).' }),
  AUTH_CLOCK_SKEW_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 30, description: '`jwt`: tolerance for `exp` and `nbf` against this clock.' }),
  AUTH_OWNER_CLAIM: Type.String({ minLength: 1, default: 'sub', description: '`jwt`: the claim that names the owner of the todos.' }),
  AUTH_JWKS_COOLDOWN_MS: Type.Integer({ minimum: 0, default: 30_000, description: '`jwt`: the key set is fetched again for an unknown `kid` at most once in this time, however many arrive.' }),
  AUTH_JWKS_MAX_AGE_MS: Type.Integer({ minimum: 1, default: 600_000, description: '`jwt`: keys are fetched again after this long, so a removed key stops working.' }),
});

/** Signature algorithms AUTH_ALGORITHMS may name: asymmetric ones only, never `none` or an HMAC. */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** Keys whose values are secrets or may hold them (credentials in URLs, collector API keys): never printed. */
const SECRET_KEY = /PASSWORD|SECRET|TOKEN|HEADERS/i;

export type RawConfig = Static<typeof ConfigSchema>;

export interface Config {
  port: number;
  host: string;
  env: string;
  version: string | undefined;
  database:
    | { kind: 'sqlite'; path: string; synchronous: 'NORMAL' | 'FULL' }
    | { kind: 'postgres'; url: string; poolMax: number; statementTimeoutMs: number; connectTimeoutMs: number };
  migrateOnStart: boolean;
  redis: { url: string; keyPrefix: string; ttlSeconds: number; timeoutMs: number } | undefined;
  log: { level: string; format: 'json' | 'pretty' };
  publicUrl: string | undefined;
  managementPort: number | undefined;
  /** The gRPC listener (src/grpc/); undefined: off. */
  grpcPort: number | undefined;
  shutdownDelayMs: number;
  readinessRequiresRedis: boolean;
  metricsEnabled: boolean;
  tracing:
    | {
        tracesUrl: string;
        protocol: 'http/protobuf' | 'http/json';
        headers: string | undefined;
        serviceName: string;
        resourceAttributes: string | undefined;
        sampler: string;
        samplerArg: number;
        exportDelayMs: number;
        exportTimeoutMs: number;
      }
    | undefined;
  cors: { origins: '*' | string[]; credentials: boolean };
  /** Set only by BODY_LIMIT_BYTES; otherwise each route's own limit applies (src/todos/schemas.ts). */
  bodyLimit: number | undefined;
  shutdownTimeoutMs: number;
  trustProxy: boolean | string[];
  limits: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** undefined: rate limiting is off. */
    rateLimit: { max: number; windowMs: number } | undefined;
    overloadHeapRatio: number;
    overloadEventLoopDelayMs: number;
  };
  docsEnabled: boolean;
  writes: { requireIfMatch: boolean; idempotencyTtlMs: number };
  auth: {
    mode: 'none' | 'jwt' | 'apikey';
    /** Set in `jwt` mode. */
    jwt:
      | {
          issuer: string;
          audience: string;
          jwksUrl: string | undefined;
          algorithms: string[];
          clockSkewSeconds: number;
          ownerClaim: string;
          jwksCooldownMs: number;
          jwksMaxAgeMs: number;
        }
      | undefined;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `.env` (if present) under the real environment: keys already in `env` win. */
export function withDotEnv(env: NodeJS.ProcessEnv, path = '.env'): NodeJS.ProcessEnv {
  if (!existsSync(path)) return env;
  return { ...parseEnv(readFileSync(path, 'utf8')), ...env };
}

/** Validates the environment against ConfigSchema; throws ConfigError listing every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const properties = ConfigSchema.properties as Record<string, TSchema>;
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(properties)) {
    const value = env[key];
    // An empty variable means "not set": `FOO=` in a compose file should not be a type error.
    if (value !== undefined && value !== '') raw[key] = value.trim();
  }
  const candidate = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw)) as Record<string, unknown>;

  // Each key is checked on its own, so the message lists every bad key, not just the first few errors.
  const problems: string[] = [];
  const bad = new Set<string>();
  for (const [key, schema] of Object.entries(properties)) {
    if (candidate[key] === undefined || Value.Check(schema, candidate[key])) continue;
    bad.add(key);
    problems.push(`${key}=${JSON.stringify(printable(key, env[key]!))}: expected ${describe(schema)}`);
  }
  const c = candidate as RawConfig;
  if (!bad.has('HEADERS_TIMEOUT_MS') && !bad.has('REQUEST_TIMEOUT_MS') && c.HEADERS_TIMEOUT_MS > c.REQUEST_TIMEOUT_MS) {
    problems.push(`HEADERS_TIMEOUT_MS=${c.HEADERS_TIMEOUT_MS}: must not exceed REQUEST_TIMEOUT_MS=${c.REQUEST_TIMEOUT_MS}`);
  }
  if (!bad.has('CORS_ORIGINS') && !bad.has('CORS_CREDENTIALS') && c.CORS_CREDENTIALS && splitList(c.CORS_ORIGINS).includes('*')) {
    problems.push('CORS_CREDENTIALS=true: needs an explicit CORS_ORIGINS list; `*` with credentials is rejected by browsers');
  }
  if (c.AUTH_MODE === 'jwt') {
    if (!c.AUTH_ISSUER && !bad.has('AUTH_ISSUER')) problems.push('AUTH_ISSUER: required with AUTH_MODE=jwt');
    if (!c.AUTH_AUDIENCE) problems.push('AUTH_AUDIENCE: required with AUTH_MODE=jwt');
  }
  const refused = splitList(c.AUTH_ALGORITHMS).filter((a) => !ASYMMETRIC_ALGORITHMS.includes(a));
  if (refused.length > 0) problems.push(`AUTH_ALGORITHMS: ${refused.join(', ')} not allowed; use asymmetric algorithms only (${ASYMMETRIC_ALGORITHMS.join(', ')})`);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: c.PORT,
    host: c.HOST,
    env: c.NODE_ENV,
    version: c.APP_VERSION,
    database: c.DATABASE_URL.startsWith('sqlite:')
      ? { kind: 'sqlite', path: sqlitePath(c.DATABASE_URL), synchronous: c.SQLITE_SYNCHRONOUS }
      : {
          kind: 'postgres',
          url: c.DATABASE_URL,
          poolMax: c.DB_POOL_MAX,
          statementTimeoutMs: c.DB_STATEMENT_TIMEOUT_MS,
          connectTimeoutMs: c.DB_CONNECT_TIMEOUT_MS,
        },
    migrateOnStart: c.MIGRATE_ON_START,
    redis: c.REDIS_URL
      ? { url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX, ttlSeconds: c.CACHE_TTL_SECONDS, timeoutMs: c.REDIS_TIMEOUT_MS }
      : undefined,
    log: { level: c.LOG_LEVEL, format: c.LOG_FORMAT },
    publicUrl: c.PUBLIC_URL?.replace(/\/+$/, ''),
    managementPort: c.MANAGEMENT_PORT,
    grpcPort: c.GRPC_PORT,
    shutdownDelayMs: c.SHUTDOWN_DELAY_MS,
    readinessRequiresRedis: c.READINESS_REQUIRES_REDIS,
    metricsEnabled: c.METRICS_ENABLED,
    tracing: tracingConfig(c),
    cors: {
      origins: splitList(c.CORS_ORIGINS).includes('*') ? '*' : splitList(c.CORS_ORIGINS),
      credentials: c.CORS_CREDENTIALS,
    },
    bodyLimit: c.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_MS,
    trustProxy: c.TRUST_PROXY === 'true' || (c.TRUST_PROXY !== 'false' && splitList(c.TRUST_PROXY)),
    limits: {
      requestTimeoutMs: c.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: c.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: c.KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: c.MAX_CONNECTIONS,
      rateLimit: c.RATE_LIMIT_MAX > 0 ? { max: c.RATE_LIMIT_MAX, windowMs: c.RATE_LIMIT_WINDOW_MS } : undefined,
      overloadHeapRatio: c.OVERLOAD_HEAP_RATIO,
      overloadEventLoopDelayMs: c.OVERLOAD_EVENT_LOOP_DELAY_MS,
    },
    docsEnabled: c.DOCS_ENABLED,
    writes: { requireIfMatch: c.REQUIRE_IF_MATCH, idempotencyTtlMs: c.IDEMPOTENCY_TTL_SECONDS * 1000 },
    auth: {
      mode: c.AUTH_MODE,
      jwt:
        c.AUTH_MODE === 'jwt'
          ? {
              issuer: c.AUTH_ISSUER!,
              audience: c.AUTH_AUDIENCE!,
              jwksUrl: c.AUTH_JWKS_URL,
              algorithms: splitList(c.AUTH_ALGORITHMS),
              clockSkewSeconds: c.AUTH_CLOCK_SKEW_SECONDS,
              ownerClaim: c.AUTH_OWNER_CLAIM,
              jwksCooldownMs: c.AUTH_JWKS_COOLDOWN_MS,
              jwksMaxAgeMs: c.AUTH_JWKS_MAX_AGE_MS,
            }
          : undefined,
    },
  };
}

/** A value as it may appear in a message or a log line: secrets withheld, URL passwords masked. */
export function printable(key: string, value: string): string {
  if (SECRET_KEY.test(key)) return '<redacted>';
  return redactUrl(value);
}

/** `scheme://user:password@host` → `scheme://user:***@host`; anything that is not such a URL is unchanged. */
export function redactUrl(value: string): string {
  // The password runs to the authority's last `@` (an unencoded `@` in it must not leave its tail behind).
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/i, '$1:***@');
}

function tracingConfig(c: RawConfig): Config['tracing'] {
  const base = c.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const tracesUrl = c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base && `${base}/v1/traces`);
  if (!tracesUrl || c.OTEL_SDK_DISABLED) return undefined;
  return {
    tracesUrl,
    protocol: c.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? c.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: c.OTEL_EXPORTER_OTLP_HEADERS,
    serviceName: c.OTEL_SERVICE_NAME,
    resourceAttributes: c.OTEL_RESOURCE_ATTRIBUTES,
    sampler: c.OTEL_TRACES_SAMPLER,
    samplerArg: c.OTEL_TRACES_SAMPLER_ARG,
    exportDelayMs: c.OTEL_BSP_SCHEDULE_DELAY,
    exportTimeoutMs: c.OTEL_EXPORTER_OTLP_TIMEOUT,
  };
}

/** sqlite:./rel.db, sqlite:/abs.db, sqlite:///abs.db and sqlite::memory: are all accepted. */
function sqlitePath(url: string): string {
  return url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function describe(schema: TSchema): string {
  const s = schema as { type?: string; minimum?: number; maximum?: number; pattern?: string; anyOf?: TSchema[] };
  if (s.anyOf) {
    const consts = s.anyOf.map((m) => (m as { const?: string }).const);
    if (consts.every((v) => v !== undefined)) return `one of ${consts.join(', ')}`;
    return s.anyOf.map(describe).join(' or ');
  }
  switch (s.type) {
    case 'integer':
      return `an integer${s.minimum !== undefined ? ` >= ${s.minimum}` : ''}${s.maximum !== undefined ? ` and <= ${s.maximum}` : ''}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return s.pattern ? `a value matching ${s.pattern}` : 'a non-empty string';
    default:
      return s.type ?? 'a valid value';
  }
}
