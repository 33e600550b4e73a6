// `buf breaking` against main: does the gRPC contract (proto/) still accept what clients built against main send,
// and answer what they expect? Usage: node scripts/proto-breaking.mjs [git ref]
// The base: the ref given; else `main` — or, where HEAD is main (CI's fresh clone of main has no other branch),
// the commit before it: for a merge, its first parent, main as it was before the change. A base without proto/
// (the change that adds it) has nothing to break.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
const commit = (ref) => git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`).stdout.trim();

const given = process.argv[2];
const base = given ?? (commit('main') && commit('main') !== commit('HEAD') ? 'main' : 'HEAD~1');
if (!commit(base)) {
  // A shallow clone has no commit before HEAD: say so loudly rather than fail a check that cannot run.
  console[given ? 'error' : 'log'](`proto-breaking: ${given ? 'failed' : 'SKIPPED'}, ${base} is no commit here${given ? '' : ' (a shallow clone?)'}`);
  process.exit(given ? 1 : 0);
}
if (git('cat-file', '-e', `${base}:buf.yaml`).status !== 0) {
  console.log(`proto-breaking: skipped, ${base} (${commit(base).slice(0, 12)}) has no buf.yaml: nothing to break yet`);
  process.exit(0);
}
const buf = join(root, 'node_modules', '.bin', 'buf');
try {
  execFileSync(buf, ['breaking', '--against', `.git#ref=${commit(base)}`], { cwd: root, stdio: 'inherit' });
  console.log(`proto-breaking: no breaking change against ${base} (${commit(base).slice(0, 12)})`);
} catch {
  console.error(`proto-breaking: breaking changes against ${base}: add a new field, message or package version (todo.v2) instead`);
  process.exit(1);
}
