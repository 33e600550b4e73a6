// Production bundle: src/main.ts and everything it imports in one CommonJS file, dist/main.cjs, so start-up
// reads one file instead of resolving hundreds of modules. better-sqlite3 stays external (a native addon).
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['better-sqlite3'],
  sourcemap: true,
  minifySyntax: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
