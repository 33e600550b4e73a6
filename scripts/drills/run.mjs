// npm run drills [-- --short] [-- --only name,name]: builds the service, then runs each fault drill in turn (each a
// script beside this one, each printing one summary line) and, in the short form, a short soak and the soak's
// leak fault (whose verdict must fail). Prints the README's Reliability table from the drills' figures and exits 1
// when any drill failed. The full 60-minute soak is its own command: npm run soak -- --minutes 60.
//
// Needs, on loopback: the machine's PostgreSQL server binaries (the drills start their own clusters), redis-server
// and nginx. Sends traffic only to 127.0.0.1; every drill stops by itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, root } from './lib.mjs';

const short = process.argv.includes('--short');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? new Set(process.argv[onlyAt + 1].split(',')) : undefined;
const DRILLS = ['replica-kill', 'postgres-kill', 'redis-kill', 'disk-full', 'sqlite-crash'];

execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
const dir = mkdtempSync(join(tmpdir(), 'todo-drills-'));
const report = join(dir, 'report.jsonl');
const env = { ...process.env, DRILLS_REPORT: report };
const results = [];

function run(name, args, expectFailure = false) {
  const t0 = Date.now();
  const { status } = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
  const ok = expectFailure ? status === 1 : status === 0;
  results.push({ name, ok, seconds: Math.round((Date.now() - t0) / 1000) });
  if (expectFailure) console.log(`drill ${name}: ${ok ? 'PASS — the verdict failed, as it must on a leak' : 'FAIL — the verdict passed a leaking service'}`);
}

for (const name of DRILLS) if (!only || only.has(name)) run(name, [join('scripts/drills', `${name}.mjs`), ...(short ? ['--short'] : [])]);
if (short && (!only || only.has('soak'))) {
  run('soak', ['scripts/drills/soak.mjs', '--minutes', '1.5', '--out', join(dir, 'soak')]);
  run('soak-leak', ['scripts/drills/soak.mjs', '--minutes', '1', '--fault', 'leak', '--out', join(dir, 'soak-leak')], true);
}

// The README's table, from the figures the drills wrote.
const rows = readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((r) => r.drill !== 'soak-leak');
console.log(`\n| drill | load | duration | requests | failed | acknowledged writes | lost | duplicates | recovery |`);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const recovery = r.recoveryMs === undefined ? '—' : `${(r.recoveryMs / 1000).toFixed(2)} s`;
  console.log(`| ${r.drill}${r.ok ? '' : ' (FAILED)'} | ${r.load} | ${r.seconds} s | ${fmt(r.requests)} | ${fmt(r.failed)} | ${fmt(r.acknowledged)} | ` +
    `${fmt(r.lost)} | ${fmt(r.duplicates)} | ${recovery} |`);
}
rmSync(dir, { recursive: true, force: true });
console.log(`\ndrills: ${results.map((r) => `${r.name} ${r.ok ? 'ok' : 'FAILED'} (${r.seconds} s)`).join(', ')}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
