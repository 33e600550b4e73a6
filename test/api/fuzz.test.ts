// Spec-driven fuzzing (test/support/fuzz.ts) against the production bundle in its own process, on SQLite and, when
// it answers, PostgreSQL. In the suite it runs for FUZZ_SECONDS (60 by default, shared by the backends);
// `npm run fuzz` runs at least FUZZ_REQUESTS generated cases per backend. FUZZ_SEED replays a run.
//
// Differential: with GO_REFERENCE_BIN (the Go reference's binary; .ci/run builds it and sets this), each backend's
// run also starts the Go service on a free port and sends it every case, and the status classes must agree but
// for the deviations listed in test/support/fuzz-differential.ts (docs/DECISIONS.md). Same time budget: each case
// then costs two requests. Without it the run is the plain one, and a skipped test says why.
// FUZZ_DIFF_COLLECT=1 lists every unexplained disagreement at the end instead of failing at the first one
// (for classifying new ones); FUZZ_DIFF_EXAMPLES=1 prints the first exchange of each deviation seen.
//
// Memory: the server process gets a preload that runs a full GC on SIGWINCH (a signal nothing else uses:
// close-with-grace shuts down on SIGUSR2, and SIGUSR1 starts Node's inspector), so the heap is compared after a
// collection at the start (after a warm-up that fills JIT code, prepared statements, pools and caches) and
// at the end; live data does not grow with the number of requests, so a leak shows as growth.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { DIFFERENTIAL_DEVIATIONS } from '../support/fuzz-differential.js';
import { caseArbitrary, differentialExamples, Fuzzer, report } from '../support/fuzz.js';
import { goReferenceUnavailable, startGoReference } from '../support/go-reference.js';
import { freshSchema, postgres, spawnService, startService, tempDir, type Proc } from '../support/helpers.js';
import { OpenApiDocument } from '../support/openapi-validator.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 0);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WARMUP_CASES = 1500;
const GO_UNAVAILABLE = goReferenceUnavailable();
const COLLECT = process.env.FUZZ_DIFF_COLLECT === '1';
// A leak of 1 KB per request over the ~20,000 requests of a short run is 20 MiB; after a full GC the heap of
// a healthy run differs by a few MiB (lazily compiled code, the statement cache, pool connections).
const HEAP_GROWTH_LIMIT = 16 * 1024 * 1024;

const backends = [
  { name: 'sqlite', share: postgres.url ? 2 / 3 : 1, env: async () => ({ env: {}, cleanup: async () => undefined }) },
  ...(postgres.url
    ? [
        {
          name: 'postgres',
          share: 1 / 3,
          env: async () => {
            const db = await freshSchema();
            return { env: { DATABASE_URL: db.url }, cleanup: db.drop };
          },
        },
      ]
    : []),
];

/** A preload for the server: a full garbage collection on SIGWINCH (gc is exposed at run time, no flag needed). */
function gcPreload(): string {
  const file = join(tempDir(), 'gc-on-signal.cjs');
  writeFileSync(
    file,
    `require('v8').setFlagsFromString('--expose-gc');
     const gc = require('vm').runInNewContext('gc');
     process.on('SIGWINCH', () => gc());`,
  );
  return file;
}

async function heapAfterGc(proc: Proc): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    proc.child.kill('SIGWINCH');
    await new Promise((r) => setTimeout(r, 150));
    const stats = (await (await fetch(`${proc.url}/metrics/json`)).json()) as { memory: { heap_used_bytes: number } };
    samples.push(stats.memory.heap_used_bytes);
  }
  return Math.min(...samples);
}

const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

for (const backend of backends) {
  const seconds = SECONDS * backend.share;
  const differential = GO_UNAVAILABLE ? '' : ', answer in the Go reference\'s status class (or a listed deviation)';
  test(`fuzz ${backend.name}: generated requests never get a 5xx or a non-problem 4xx, match the document, round-trip, leak nothing${differential}`, { timeout: (seconds + 120) * 1000 + REQUESTS * 40 }, async (t: TestContext) => {
    const { env, cleanup } = await backend.env();
    const proc = await spawnService({ ...env, NODE_OPTIONS: `--require ${gcPreload()}` });
    const go = GO_UNAVAILABLE ? undefined : await startGoReference();
    try {
      const doc = new OpenApiDocument((await (await fetch(`${proc.url}/openapi.json`)).json()) as Record<string, unknown>);
      const fuzzer = new Fuzzer(proc.url, doc, go ? { url: go.url, collect: COLLECT } : undefined);
      await fuzzer.prepare();
      const cases = caseArbitrary(doc);
      const property = fc.asyncProperty(cases, (c) => fuzzer.run(c));
      t.diagnostic(`seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);
      t.diagnostic(go ? `differential: every case also goes to the Go reference at ${go.url}` : `differential part skipped: ${GO_UNAVAILABLE}`);
      const started = performance.now();

      await fc.assert(property, { numRuns: WARMUP_CASES, seed: SEED, includeErrorInReport: true });
      const heapBefore = await heapAfterGc(proc);

      await fc.assert(property, {
        numRuns: REQUESTS > 0 ? REQUESTS : 1_000_000_000,
        seed: SEED + 1,
        includeErrorInReport: true,
        plugins: REQUESTS > 0 ? [] : [fc.interruptAfterTimeLimit(Math.max(1, seconds - 5) * 1000)],
      });

      const live = await fetch(`${proc.url}/livez`);
      assert.equal(live.status, 200, 'the server is still up');
      const heapAfter = await heapAfterGc(proc);
      const took = (performance.now() - started) / 1000;
      for (const line of report(backend.name, fuzzer.stats, took)) t.diagnostic(line);
      if (process.env.FUZZ_DIFF_EXAMPLES === '1') for (const line of differentialExamples(fuzzer.stats)) t.diagnostic(line);
      t.diagnostic(`heap after a full GC: ${MiB(heapBefore)} after the warm-up, ${MiB(heapAfter)} at the end`);
      fuzzer.close();

      assert.ok(heapAfter - heapBefore < HEAP_GROWTH_LIMIT, `the heap grew by ${MiB(heapAfter - heapBefore)} (limit ${MiB(HEAP_GROWTH_LIMIT)})`);
      assert.deepEqual(proc.logs.filter((l) => l.level === 'error' || l.level === 'fatal'), [], 'no error was logged');
      if (REQUESTS > 0) assert.ok(fuzzer.stats.requests >= REQUESTS, `${fuzzer.stats.requests} requests, wanted ${REQUESTS}`);
      const unexplained = Object.keys(fuzzer.stats.differential?.unexplained ?? {});
      assert.deepEqual(unexplained, [], 'disagreements with the Go reference that no deviation explains (listed above)');
    } finally {
      await go?.stop();
      assert.equal(await proc.stop(), 0, 'a clean exit after the fuzzing');
      await cleanup();
    }
  });
}

// Without the reference the runs above are not differential: say so where it shows.
test('fuzz: differential against the Go reference', { skip: GO_UNAVAILABLE ?? false }, () => {
  // It ran inside each backend's test above.
});

test('the deviations from the Go service are one table in docs/DECISIONS.md, entry for entry', () => {
  const doc = readFileSync(new URL('../../docs/DECISIONS.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `([a-z0-9-]+)`/gm)].map((m) => m[1]!);
  assert.deepEqual(rows.sort(), DIFFERENTIAL_DEVIATIONS.map((d) => d.name).sort(), 'the rows of the table are the entries of DIFFERENTIAL_DEVIATIONS');
});

// Properties of refusals the generated cases reach only now and then, asserted once each.
describe('refusals the fuzzer reaches rarely', () => {
  const problem = async (res: Response) => {
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, await res.text());
  };
  const exchange = async (base: string, method: string, target: string) => {
    const { send } = await import('../support/fuzz.js');
    const { Agent } = await import('node:http');
    const agent = new Agent();
    try {
      return await send(new URL(base), agent, method, target, {});
    } finally {
      agent.destroy();
    }
  };
  test('a malformed percent-encoding in the path is a 400 problem', async () => {
    const svc = await startService();
    try {
      await problem(await fetch(`${svc.url}/api/todos/%E0%A4%A`));
    } finally {
      await svc.dispose();
    }
  });
  test('an id of more than 100 characters is a 400 invalid-id problem, as Go reads it', async () => {
    const svc = await startService();
    try {
      const res = await fetch(`${svc.url}/api/todos/${'9'.repeat(101)}`);
      assert.equal(res.status, 400);
      await problem(res);
    } finally {
      await svc.dispose();
    }
  });
  test('a request the HTTP parser refuses (an unknown method) is a problem', async () => {
    const svc = await startService();
    try {
      const answer = await exchange(svc.url, 'FOO', '/api/todos');
      assert.equal(answer.status, 400);
      assert.match(String(answer.headers['content-type']), /^application\/problem\+json/, answer.text);
    } finally {
      await svc.dispose();
    }
  });
  test('a request target of * with a method other than OPTIONS is a 400 problem; OPTIONS * is a 204', async () => {
    const svc = await startService();
    try {
      const answer = await exchange(svc.url, 'GET', '*');
      assert.equal(answer.status, 400, answer.text);
      assert.match(String(answer.headers['content-type']), /^application\/problem\+json/, answer.text);
      assert.equal((await exchange(svc.url, 'OPTIONS', '*')).status, 204);
    } finally {
      await svc.dispose();
    }
  });
  test('an OPTIONS request that is not a CORS preflight is a 204 with no body', async () => {
    const svc = await startService();
    try {
      const res = await fetch(`${svc.url}/api/todos`, { method: 'OPTIONS' });
      assert.equal(res.status, 204);
      assert.equal(await res.text(), '');
    } finally {
      await svc.dispose();
    }
  });
});
