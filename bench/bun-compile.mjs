// Compiles the service's bundle into one executable with Bun (`bun build --compile`), for the benchmark's
// `ours-bun-compiled` target. Run with Bun: bun bench/bun-compile.mjs <entry, e.g. dist/main.cjs> <outfile>
//
// Plain `bun build --compile dist/main.cjs` does produce an executable, but better-sqlite3 finds its addon at run
// time by probing paths next to its own files, which Bun resolves to the node_modules of the machine that
// compiled it: the executable works only where that folder still exists. Here `better-sqlite3` resolves to its
// platform entry (`better-sqlite3/linux-x64`, …), which require()s the prebuilt addon by a literal path, so Bun
// embeds the addon in the executable (and writes it to a temporary file at start to load it).

/* global Bun */
const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error('usage: bun bench/bun-compile.mjs <entry> <outfile>');
  process.exit(2);
}
const platformEntry = `better-sqlite3/${process.platform}-${process.arch}`;
const result = await Bun.build({
  entrypoints: [entry],
  compile: { outfile },
  plugins: [
    {
      name: 'better-sqlite3-embedded-addon',
      setup(build) {
        build.onResolve({ filter: /^better-sqlite3$/ }, (args) => ({ path: Bun.resolveSync(platformEntry, args.importer) }));
      },
    },
  ],
});
if (!result.success) {
  for (const message of result.logs) console.error(String(message));
  process.exit(1);
}
console.log(result.outputs.map((o) => o.path).join('\n'));
