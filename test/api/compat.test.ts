// The compatibility script (scripts/compat.mjs) is the same one CI runs against the Go reference: here it runs
// against this service, so both pass one client's expectations.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startService } from '../support/helpers.js';

test('scripts/compat.mjs passes against this service', async () => {
  const svc = await startService();
  try {
    const script = new URL('../../scripts/compat.mjs', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [script, svc.url], { timeout: 60_000 });
    const summary = stdout.trim().split('\n').at(-1) ?? '';
    assert.match(summary, /^\d+ passed, 0 failed$/, stdout);
    assert.ok(Number(summary.split(' ')[0]) >= 40, 'the script really ran its checks');
  } finally {
    await svc.dispose();
  }
});
