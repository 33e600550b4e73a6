// Configuration: defaults, every bad key reported at once, .env under the real environment, exit code 1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, withDotEnv } from '../../src/config.js';
import { MAIN, tempDir } from '../support/helpers.js';

test('defaults need no environment at all', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '0.0.0.0');
  assert.deepEqual(c.database, { kind: 'sqlite', path: './data/todos.db', synchronous: 'NORMAL' });
  assert.deepEqual(c.log, { level: 'info', format: 'json' });
  assert.deepEqual(c.cors, { origins: '*', credentials: false });
  assert.equal(c.bodyLimit, undefined); // each route's own limit (src/todos/schemas.ts)
  assert.equal(c.shutdownTimeoutMs, 10_000);
  assert.equal(c.trustProxy, false);
});

test('values are parsed and an empty variable counts as unset', () => {
  const c = loadConfig({
    PORT: '3000',
    DATABASE_URL: 'sqlite:///var/lib/todos.db',
    CORS_ORIGINS: 'https://a.example,https://b.example',
    CORS_CREDENTIALS: 'true',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    LOG_LEVEL: '',
    SQLITE_SYNCHRONOUS: 'FULL',
  });
  assert.equal(c.port, 3000);
  assert.deepEqual(c.database, { kind: 'sqlite', path: '/var/lib/todos.db', synchronous: 'FULL' });
  assert.deepEqual(c.cors, { origins: ['https://a.example', 'https://b.example'], credentials: true });
  assert.deepEqual(c.trustProxy, ['10.0.0.0/8', '127.0.0.1']);
  assert.equal(c.log.level, 'info');
  assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
});

test('every bad key is reported in one error', () => {
  const env = {
    PORT: 'eighty',
    LOG_LEVEL: 'loud',
    BODY_LIMIT_BYTES: '0',
    DATABASE_URL: 'mysql://db/todos',
    CORS_CREDENTIALS: 'maybe',
    SHUTDOWN_TIMEOUT_MS: '-1',
  };
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(
        error.problems.map((p) => p.split('=')[0]).sort(),
        ['BODY_LIMIT_BYTES', 'CORS_CREDENTIALS', 'DATABASE_URL', 'LOG_LEVEL', 'PORT', 'SHUTDOWN_TIMEOUT_MS'],
      );
      assert.match(error.message, /LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/);
      assert.match(error.message, /PORT="eighty": expected an integer >= 0 and <= 65535/);
      return true;
    },
  );
});

test('the OTLP protocol: protobuf by default, the traces variable wins, gRPC is refused', () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
  assert.equal(loadConfig(endpoint).tracing?.protocol, 'http/protobuf');
  assert.equal(loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing?.protocol, 'http/json');
  assert.equal(
    loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).tracing?.protocol,
    'http/protobuf',
  );
  assert.throws(
    () => loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    /OTEL_EXPORTER_OTLP_PROTOCOL="grpc": expected one of http\/protobuf, http\/json/,
  );
  assert.throws(() => loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http' }), /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http"/);
});

test('credentials with any origin is refused', () => {
  assert.throws(() => loadConfig({ CORS_CREDENTIALS: 'true' }), /CORS_CREDENTIALS=true: needs an explicit CORS_ORIGINS list/);
  assert.throws(() => loadConfig({ CORS_CREDENTIALS: 'true', CORS_ORIGINS: 'https://a.example,*' }), ConfigError);
});

test('.env fills in keys; the real environment wins', () => {
  const file = join(tempDir(), '.env');
  writeFileSync(file, 'PORT=1234\nLOG_LEVEL=debug\n# comment\nNODE_ENV="staging"\n');
  const env = withDotEnv({ LOG_LEVEL: 'warn' }, file);
  const c = loadConfig(env);
  assert.equal(c.port, 1234);
  assert.equal(c.log.level, 'warn');
  assert.equal(c.env, 'staging');
  assert.deepEqual(withDotEnv({ A: '1' }, join(tempDir(), 'missing.env')), { A: '1' });
});

test('the process exits 1 with one message naming every bad key', () => {
  const r = spawnSync(process.execPath, [MAIN], {
    cwd: tempDir(),
    env: { PATH: process.env.PATH, PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'sqlite:./x.db' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^Invalid configuration:/);
  assert.match(r.stderr, /PORT="abc"/);
  assert.match(r.stderr, /LOG_LEVEL="loud"/);
  assert.equal(r.stdout, '');
});

test('every config key is documented in the README table and in .env.example', async () => {
  const { readFileSync } = await import('node:fs');
  const { ConfigSchema } = await import('../../src/config.js');
  const root = new URL('../..', import.meta.url).pathname;
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = readFileSync(join(root, '.env.example'), 'utf8');
  for (const key of Object.keys(ConfigSchema.properties)) {
    assert.match(readme, new RegExp(`^\\| \`${key}\` \\|`, 'm'), `README config table lacks ${key}`);
    assert.match(example, new RegExp(`^#? ?${key}=`, 'm'), `.env.example lacks ${key}`);
  }
});
