// Production bundles: each entry point and everything it imports in one CommonJS file, so start-up reads one
// file instead of resolving hundreds of modules. Left out, and loaded from node_modules when needed:
// better-sqlite3 (a native addon), and what only some configurations load (the PostgreSQL and Redis clients,
// pino-pretty), so the common start-up does not even parse them.
//   dist/main.cjs         the service, and its `migrate [status]` subcommand
//   dist/tracing.cjs      src/telemetry/tracing.ts with the OpenTelemetry SDK parts it uses, which main.cjs
//                         loads only when an OTLP endpoint is configured (see below)
//   dist/healthcheck.cjs  the image HEALTHCHECK: a few lines, so it fits beside the service in its memory limit
import { build } from 'esbuild';

/**
 * main.cjs imports the tracing module at run time from its own file instead of carrying it: the SDK is not
 * even parsed by a service that exports no traces. It is bundled there rather than required from
 * node_modules: loaded as the ~170 modules of the OpenTelemetry packages, the SDK cost a get by id ~12 % of
 * its throughput on Node 24 with no request touching it (docs/DECISIONS.md, "Observability").
 */
const tracingApart = {
  name: 'tracing-apart',
  setup(build) {
    build.onResolve({ filter: /\/telemetry\/tracing\.js$/ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined; // type-only imports are erased anyway
      return { path: './tracing.cjs', external: true };
    });
  },
};

await build({
  entryPoints: { main: 'src/main.ts', healthcheck: 'src/healthcheck.ts', tracing: 'src/telemetry/tracing.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  plugins: [tracingApart],
  // swagger-ui-dist tells where its files are from its own location, so it stays in node_modules too.
  // The PostgreSQL and Redis clients are only loaded when configured (dynamic imports in src/storage and
  // src/run.ts): outside the bundle, a SQLite replica does not even parse them. @opentelemetry/api, the
  // facade prom-client requires, stays one shared copy for both bundles.
  external: ['better-sqlite3', 'pg', 'ioredis', '@opentelemetry/api', 'pino-pretty', 'swagger-ui-dist'],
  sourcemap: true,
  minify: true,
  keepNames: false,
  legalComments: 'linked',
  logLevel: 'warning',
});
