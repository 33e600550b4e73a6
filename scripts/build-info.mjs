// Writes src/generated/build-info.json: the version from package.json and the git commit the build comes
// from (hash, commit time, dirty flag). Outside a git checkout (a container build context without .git),
// BUILD_COMMIT / BUILD_COMMIT_TIME / BUILD_DIRTY / BUILD_VERSION may be passed in; otherwise "unknown".
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

const insideGit = git('rev-parse', '--is-inside-work-tree') === 'true';
const commit = process.env.BUILD_COMMIT || (insideGit && git('rev-parse', 'HEAD')) || 'unknown';
const commitTime =
  process.env.BUILD_COMMIT_TIME || (insideGit && git('log', '-1', '--format=%cI')) || 'unknown';
let dirty = 'unknown';
if (process.env.BUILD_DIRTY) dirty = process.env.BUILD_DIRTY === 'true';
else if (insideGit) dirty = (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '';

const info = {
  version: process.env.BUILD_VERSION || pkg.version,
  commit,
  commit_time: commitTime,
  dirty,
};

const out = join(root, 'src', 'generated', 'build-info.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(info, null, 2) + '\n');
