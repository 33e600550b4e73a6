// Attack family: bodies built to exhaust memory. A 1 MiB body of nested arrays or of 330,000 `{}` used to take
// the process past its heap limit when a few arrived at once. Now each route's body limit is a few KiB above its
// largest valid body, and load shedding answers 503 before the heap runs out. Proven on the production bundle
// under the image's own heap flags, read from the Dockerfile, so this test follows the image.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { TODO_BODY_LIMIT } from '../../src/todos/schemas.js';
import { spawnService, type Proc } from '../support/helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const CONCURRENT = 16;
const ROUNDS = 8;

/** The NODE_OPTIONS the image runs with (`ENV NODE_OPTIONS="..."` in the Dockerfile). */
function imageNodeOptions(): string {
  const match = /NODE_OPTIONS="([^"]+)"/.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'));
  assert.ok(match, 'the Dockerfile sets NODE_OPTIONS');
  return match[1]!;
}

/** Pads a JSON text with more of the same to `size` bytes, keeping it JSON. */
const fill = (open: string, unit: string, close: string, size: number) =>
  open + unit.repeat(Math.floor((size - open.length - close.length) / unit.length)).replace(/,$/, '') + close;

/** Hostile bodies, each as large as the limit lets through (and one size past it), none of them a valid todo. */
function hostileBodies(limit: number): [string, string][] {
  const depth = Math.floor((limit - 2) / 2);
  return [
    ['nested arrays', '['.repeat(depth) + ']'.repeat(depth)],
    ['nested objects in title', `{"title":${'{"a":'.repeat(Math.floor((limit - 11) / 6))}1${'}'.repeat(Math.floor((limit - 11) / 6))}}`],
    ['many small objects', fill('[', '{},', ']', limit)],
    ['many small objects in description', fill('{"title":"x","description":[', '{},', ']}', limit)],
    ['many keys', fill('{"title":"x","description":{', '"k":1,', '}}', limit)],
    ['long string', `{"title":"x","description":"${'x'.repeat(limit - 40)}"}`],
    ['long title of escapes', `{"title":"${'\\u0041'.repeat(Math.floor((limit - 20) / 6))}"}`],
    ['numbers', fill('[', '1e308,', ']', limit)],
    ['one byte past the limit', `{"title":"x","pad":"${'x'.repeat(limit)}"}`],
    ['far past the limit', fill('[', '{},', ']', limit * 32)],
  ];
}

let proc: Proc;
let nodeOptions: string;
before(async () => {
  nodeOptions = imageNodeOptions();
  proc = await spawnService({ NODE_OPTIONS: nodeOptions });
});
after(async () => {
  await proc.stop();
});

test(`${CONCURRENT} concurrent maximum-size hostile bodies, ${ROUNDS} rounds, under the image's heap flags: only 4xx/503, nothing stored, the process lives`, async (t) => {
  t.diagnostic(`NODE_OPTIONS from the Dockerfile: ${nodeOptions}; body limit ${TODO_BODY_LIMIT} bytes`);
  const bodies = hostileBodies(TODO_BODY_LIMIT);
  const statuses = new Map<string, number>();
  let peakRss = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const requests = Array.from({ length: CONCURRENT }, (_, i) => {
      const [kind, body] = bodies[(round * CONCURRENT + i) % bodies.length]!;
      const method = i % 3 === 0 ? 'PUT' : 'POST';
      const path = method === 'PUT' ? '/api/todos/1' : '/api/todos';
      return fetch(proc.url + path, { method, body, headers: { 'content-type': 'application/json' } }).then(
        async (res) => {
          await res.arrayBuffer();
          return `${kind} ${res.status}`;
        },
        (error: Error) => `${kind} cut (${error.message})`,
      );
    });
    for (const outcome of await Promise.all(requests)) statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
    const stats = (await (await fetch(`${proc.url}/metrics/json`)).json()) as { memory: { rss_bytes: number } };
    peakRss = Math.max(peakRss, stats.memory.rss_bytes);
  }
  for (const [outcome, n] of [...statuses].sort()) t.diagnostic(`${outcome}: ${n}`);
  t.diagnostic(`peak RSS seen between rounds: ${(peakRss / 1024 / 1024).toFixed(1)} MiB`);

  for (const outcome of statuses.keys()) {
    const status = Number(/ (\d{3})$/.exec(outcome)?.[1]);
    // A body past the limit may be cut before it is all sent (413 and close, no lingering read): also a refusal.
    const refused = (status >= 400 && status < 500) || status === 503 || (outcome.includes('past the limit') && outcome.includes(' cut '));
    assert.ok(refused, `only refusals: ${outcome}`);
  }
  assert.equal(proc.child.exitCode, null, 'the process is alive');

  // A second later it serves normally, and none of the hostile bodies was stored.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const list = (await (await fetch(`${proc.url}/api/todos`)).json()) as { pagination: { total_items: number } };
  assert.equal(list.pagination.total_items, 0, 'nothing was stored');
  const created = await fetch(`${proc.url}/api/todos`, { method: 'POST', body: '{"title":"after the storm"}' });
  assert.equal(created.status, 201);
  assert.equal((await fetch(`${proc.url}/livez`)).status, 200);
});

test('control: with the old 1 MiB limit, the same attack takes the process down (so the test above can tell)', async () => {
  // Its stderr is dropped: V8's out-of-memory report is a few hundred lines of native stack.
  const weak = await spawnService({ NODE_OPTIONS: nodeOptions, BODY_LIMIT_BYTES: String(1024 * 1024) }, { stderr: 'ignore' });
  try {
    const bodies = hostileBodies(1024 * 1024).filter(([kind]) => !kind.includes('past the limit'));
    for (let round = 0; round < 4 && weak.child.exitCode === null; round++) {
      await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) =>
          fetch(`${weak.url}/api/todos`, { method: 'POST', body: bodies[(round * CONCURRENT + i) % bodies.length]![1] }).then(
            (res) => res.arrayBuffer(),
            () => undefined,
          ),
        ),
      );
    }
    const code = await Promise.race([weak.exit, new Promise((resolve) => setTimeout(() => resolve('alive'), 5000))]);
    assert.notEqual(code, 'alive', 'the process with a 1 MiB limit ran out of heap');
  } finally {
    await weak.stop();
  }
});

test('the largest valid todo body still fits the limit', async () => {
  // Every character of the longest title and description as an escaped surrogate pair: 12 bytes each.
  const rocket = '\\uD83D\\uDE80';
  const body = `{"title":"${rocket.repeat(200)}","description":"${rocket.repeat(2000)}","completed":false}`;
  assert.ok(Buffer.byteLength(body) < TODO_BODY_LIMIT && TODO_BODY_LIMIT - Buffer.byteLength(body) <= 8 * 1024, `${Buffer.byteLength(body)} bytes vs the limit ${TODO_BODY_LIMIT}`);
  const res = await fetch(`${proc.url}/api/todos`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 201, await res.text());
});
