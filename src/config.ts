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

/** The environment contract of the service. `description` is what the README's config table says. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'TCP port of the HTTP API (0 picks a free one).' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Interface to listen on.' }),
  NODE_ENV: Type.String({ minLength: 1, default: 'development', description: 'Environment name reported by `GET /`.' }),
  APP_VERSION: Type.Optional(Type.String({ minLength: 1, description: 'Version reported by `GET /` and `/health`; default: the build\'s version (package.json).' })),
  DATABASE_URL: Type.String({ pattern: '^sqlite:.+$', default: 'sqlite:./data/todos.db', description: '`sqlite:<path>` (file created on first start; `sqlite::memory:` for a throwaway store).' }),
  SQLITE_SYNCHRONOUS: Type.Union([Type.Literal('NORMAL'), Type.Literal('FULL')], { default: 'NORMAL', description: 'SQLite `synchronous` in WAL mode: NORMAL survives a process crash, FULL also a power loss (slower writes). See docs/DECISIONS.md.' }),
  LOG_LEVEL: Type.Union(LogLevel.anyOf, { default: 'info', description: 'pino level; `info` logs one line per request.' }),
  LOG_FORMAT: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json', description: '`json` lines on stdout, or `pretty` for humans (development).' }),
  CORS_ORIGINS: Type.String({ minLength: 1, default: '*', description: 'Comma-separated allowed origins, or `*` for any origin (then never with credentials).' }),
  CORS_CREDENTIALS: Type.Boolean({ default: false, description: 'Send `Access-Control-Allow-Credentials: true`; only allowed with an explicit `CORS_ORIGINS` list.' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1, default: 1_048_576, description: 'Largest accepted request body; larger gets 413.' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000, description: 'On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut.' }),
  TRUST_PROXY: Type.String({ minLength: 1, default: 'false', description: '`true`, `false`, or a comma-separated list of proxy addresses/CIDRs whose `X-Forwarded-*` headers are believed.' }),
});

export type RawConfig = Static<typeof ConfigSchema>;

export interface Config {
  port: number;
  host: string;
  env: string;
  version: string | undefined;
  database: { kind: 'sqlite'; path: string; synchronous: 'NORMAL' | 'FULL' };
  log: { level: string; format: 'json' | 'pretty' };
  cors: { origins: '*' | string[]; credentials: boolean };
  bodyLimit: number;
  shutdownTimeoutMs: number;
  trustProxy: boolean | string[];
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
    problems.push(`${key}=${JSON.stringify(env[key])}: expected ${describe(schema)}`);
  }
  const c = candidate as RawConfig;
  if (!bad.has('CORS_ORIGINS') && !bad.has('CORS_CREDENTIALS') && c.CORS_CREDENTIALS && splitList(c.CORS_ORIGINS).includes('*')) {
    problems.push('CORS_CREDENTIALS=true: needs an explicit CORS_ORIGINS list; `*` with credentials is rejected by browsers');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: c.PORT,
    host: c.HOST,
    env: c.NODE_ENV,
    version: c.APP_VERSION,
    database: parseDatabaseUrl(c.DATABASE_URL, c.SQLITE_SYNCHRONOUS),
    log: { level: c.LOG_LEVEL, format: c.LOG_FORMAT },
    cors: {
      origins: splitList(c.CORS_ORIGINS).includes('*') ? '*' : splitList(c.CORS_ORIGINS),
      credentials: c.CORS_CREDENTIALS,
    },
    bodyLimit: c.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_MS,
    trustProxy: c.TRUST_PROXY === 'true' || (c.TRUST_PROXY !== 'false' && splitList(c.TRUST_PROXY)),
  };
}

function parseDatabaseUrl(url: string, synchronous: 'NORMAL' | 'FULL'): Config['database'] {
  // sqlite:./rel.db, sqlite:/abs.db, sqlite:///abs.db and sqlite::memory: are all accepted.
  const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  return { kind: 'sqlite', path, synchronous };
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
