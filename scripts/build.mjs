// Production bundles: each entry point and everything it imports in one CommonJS file, so start-up reads one
// file instead of resolving hundreds of modules. Left out, and loaded from node_modules when needed:
// better-sqlite3 (a native addon), and what only some configurations load (the PostgreSQL and Redis clients,
// the OpenTelemetry SDK, pino-pretty), so the common start-up does not even parse them.
//   dist/main.cjs         the service, and its `migrate [status]` subcommand
//   dist/healthcheck.cjs  the image HEALTHCHECK: a few lines, so it fits beside the service in its memory limit
import { build } from 'esbuild';

await build({
  entryPoints: { main: 'src/main.ts', healthcheck: 'src/healthcheck.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // swagger-ui-dist tells where its files are from its own location, so it stays in node_modules too.
  // The PostgreSQL and Redis clients are only loaded when configured (dynamic imports in src/storage and
  // src/run.ts): outside the bundle, a SQLite replica does not even parse them.
  external: ['better-sqlite3', 'pg', 'ioredis', '@opentelemetry/*', 'pino-pretty', 'swagger-ui-dist'],
  sourcemap: true,
  minify: true,
  keepNames: false,
  legalComments: 'linked',
  logLevel: 'warning',
});
