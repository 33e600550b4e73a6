// Copies into a runtime folder exactly the node_modules the bundle still needs: the packages that
// scripts/build.mjs left external (native addons such as better-sqlite3) and their own dependencies, without
// the build leftovers of native addons (C sources, object files, static libraries) or docs.
//
// Which packages? esbuild reads dist/main.cjs again with every package marked external, and its metafile lists
// the require() calls that are real calls — not the ones quoted inside strings of generated code. So adding a
// package to build.mjs's `external` list needs no change here or in the Dockerfile.
//
// Packages that ship prebuilt addons for every platform (prebuilds/<os>-<arch>…) keep only the target's:
// --platform linux/arm64 (the Dockerfile passes TARGETPLATFORM; default: this machine's), glibc builds only.
//
// Usage: node scripts/container/runtime-deps.mjs [--platform os/arch] <node_modules (production install)>
//        <out node_modules> <bundle>...
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build } from 'esbuild';

const args = process.argv.slice(2);
let platform = `${process.platform}/${process.arch}`;
if (args[0] === '--platform') {
  platform = args[1] || platform;
  args.splice(0, 2);
}
const [targetOs, targetArch] = platform.split('/');
/** Node's name for the architecture (Docker says amd64, Node says x64). */
const NODE_ARCH = { amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64', arm: 'arm', '386': 'ia32', ppc64le: 'ppc64', s390x: 's390x' };
const prebuildTag = `${targetOs}-${NODE_ARCH[targetArch] ?? targetArch}`;
const [fromModules, outModules, ...bundles] = args.map((p) => resolve(p));
if (!fromModules || !outModules || bundles.length === 0) {
  console.error('usage: runtime-deps.mjs <node_modules> <out node_modules> <bundle>...');
  process.exit(2);
}

/** Bare package names the bundles require() or import() at run time. */
async function externalPackages(files) {
  const result = await build({
    entryPoints: files,
    outdir: '/nonexistent',
    bundle: true,
    platform: 'node',
    format: 'cjs',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const names = new Set();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const imp of input.imports) {
      if (!imp.external || isBuiltin(imp.path) || imp.path.startsWith('.') || imp.path.startsWith('/')) continue;
      const parts = imp.path.split('/');
      names.add(imp.path.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]);
    }
  }
  return [...names].sort();
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent's, up to the root node_modules. */
function resolvePackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = dir === fromModules ? join(dir, name) : join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === fromModules || !dir.startsWith(fromModules)) return undefined;
  }
}

const roots = await externalPackages(bundles);
// A required package the project does not depend on is an optional require inside bundled code (pg's
// `require('pg-native')` in a try/catch, say): skipped with a note. A declared one must be installed.
const rootPkg = JSON.parse(readFileSync(join(dirname(fromModules), 'package.json'), 'utf8'));
const declared = new Set(Object.keys({ ...rootPkg.dependencies, ...rootPkg.optionalDependencies }));
const skipped = roots.filter((name) => !declared.has(name) && !resolvePackage(name, fromModules));
const seen = new Map(); // package dir → name
const missing = [];
const queue = roots.filter((name) => !skipped.includes(name)).map((name) => ({ name, from: fromModules, optional: false, by: 'the bundle' }));
while (queue.length > 0) {
  const { name, from, optional, by } = queue.shift();
  const dir = resolvePackage(name, from);
  if (!dir) {
    if (!optional) missing.push(`${name} (needed by ${by})`);
    continue;
  }
  if (seen.has(dir)) continue;
  seen.set(dir, name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false, by: name });
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true, by: name });
  for (const dep of Object.keys(pkg.peerDependencies ?? {})) {
    const peerOptional = pkg.peerDependenciesMeta?.[dep]?.optional === true;
    queue.push({ name: dep, from: dir, optional: peerOptional, by: name });
  }
}
if (missing.length > 0) {
  console.error(`runtime-deps: not installed: ${missing.join(', ')}`);
  process.exit(1);
}

// What a running process never reads: sources and objects of native addons, type declarations, docs.
const DROP_FILE = /\.(sh|c|cc|cpp|cxx|h|hh|hpp|hxx|o|a|obj|lib|gyp|gypi|mk|lzz|d\.ts|d\.mts|d\.cts|md|markdown|map)$|^(\..*|Makefile|CMakeLists\.txt|binding\.gyp|tsconfig\.json)$/i;
// Directories only by names that are never code: a package's `doc/` or `test/` may well be (yaml's dist/doc is).
const DROP_DIR = /^(\.deps|obj|obj\.target|\.github)$/;

/** A prebuilt addon for another platform: prebuilds/<os>-<arch>[.node|/] that is not the target's. */
function foreignPrebuild(dir, name) {
  if (!/(^|[/\\])prebuilds$/.test(dir) || !/^[a-z0-9]+-[a-z0-9]+/.test(name)) return false;
  return !(name === prebuildTag || name.startsWith(`${prebuildTag}.`) || name.startsWith(`${prebuildTag}+`));
}

function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (foreignPrebuild(dir, entry.name)) {
      rmSync(path, { recursive: true, force: true });
      continue;
    }
    if (entry.isDirectory()) {
      if (DROP_DIR.test(entry.name)) rmSync(path, { recursive: true, force: true });
      else {
        prune(path);
        if (readdirSync(path).length === 0) rmdirSync(path);
      }
    } else if (DROP_FILE.test(entry.name)) rmSync(path, { force: true });
  }
}

function size(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? size(path) : statSync(path).size;
  }
  return total;
}

rmSync(outModules, { recursive: true, force: true });
mkdirSync(outModules, { recursive: true });
const lines = [];
for (const [dir, name] of [...seen].sort(([a], [b]) => a.localeCompare(b))) {
  const target = join(outModules, relative(fromModules, dir));
  // nested node_modules are copied as packages of their own, only when something needs them
  cpSync(dir, target, { recursive: true, filter: (src) => !relative(dir, src).split(sep).includes('node_modules') });
  prune(target);
  const version = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')).version;
  lines.push(`  ${name}@${version}  ${(size(target) / 1024).toFixed(0)} KiB`);
}
console.log(`runtime-deps (${platform}): ${bundles.map((b) => relative(process.cwd(), b)).join(', ')} require ${roots.join(', ') || 'no package'}; copied ${seen.size} package(s):`);
console.log(lines.join('\n'));
if (skipped.length > 0) console.log(`runtime-deps: not a dependency of the project, left out: ${skipped.join(', ')}`);
