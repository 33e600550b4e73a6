// Tracing end to end: a small OTLP/HTTP receiver inside the test gets the spans. The request span continues
// the caller's traceparent, the database span is its child, the response names the trace, and the log lines
// of the request carry the same trace id.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Todo } from '../../src/todos/repository.js';
import { freshRedisPrefix, freshSchema, http, postgres, redis, spawnService, startService, tempDir, waitFor, type TestService } from '../support/helpers.js';
import { otlpReceiver, type OtlpSpan, type Receiver } from '../support/otlp-receiver.js';

const attr = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value;

describe('tracing', () => {
  let receiver: Receiver;
  let svc: TestService;
  before(async () => {
    receiver = await otlpReceiver();
    svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'todo-test' });
  });
  after(async () => {
    await svc.dispose();
    await receiver.close();
  });

  test('the request span continues the incoming traceparent; the database span is its child; logs and response carry the trace id', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const r = await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', {
      body: { title: 'traced' },
      headers: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=abc' },
    });
    assert.equal(r.status, 201);
    const traceresponse = r.headers.get('traceresponse') ?? '';
    assert.match(traceresponse, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const server = await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'POST /api/todos'));
    assert.equal(server.parentSpanId, parentId);
    assert.equal(server.kind, 2, 'SERVER');
    assert.equal(traceresponse.split('-')[2], server.spanId, 'the response names the request span');
    assert.deepEqual(attr(server, 'http.route'), { stringValue: '/api/todos' });
    assert.deepEqual(attr(server, 'http.response.status_code'), { intValue: 201 });

    const db = await waitFor('the database span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'create todos'));
    assert.equal(db.parentSpanId, server.spanId, 'the database span is a child of the request span');
    assert.equal(db.kind, 3, 'CLIENT');
    assert.deepEqual(attr(db, 'db.system.name'), { stringValue: 'sqlite' });

    const line = svc.logs.find((l) => l.msg === 'request completed' && l.request_id === r.headers.get('x-request-id'));
    assert.equal(line?.trace_id, traceId);
    assert.equal(line?.span_id, server.spanId);
    assert.ok(receiver.contentTypes.every((t) => t === 'application/x-protobuf'), 'protobuf, the specification\'s default');
  });

  test('without a traceparent a new trace starts; a log line written inside the handler carries its ids', async () => {
    const r = await http(svc.url, 'GET', '/api/todos/123456');
    assert.equal(r.status, 404);
    const [, traceId, spanId] = (r.headers.get('traceresponse') ?? '').split('-');
    assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
    await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId));
    const get = await waitFor('the database span', () => receiver.spans.find((s) => s.traceId === traceId && s.name === 'get todos'));
    assert.equal(get.parentSpanId, spanId);
  });

  test('an unsampled request (traceparent flags 00) exports no span at all, yet its response and log line carry its trace id', async () => {
    const unsampled = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
    const r = await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', {
      body: { title: 'not sampled' },
      headers: { traceparent: `00-${unsampled}-00f067aa0ba902b7-00` },
    });
    assert.equal(r.status, 201);
    assert.match(r.headers.get('traceresponse') ?? '', new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
    const line = svc.logs.find((l) => l.msg === 'request completed' && l.request_id === r.headers.get('x-request-id'));
    assert.equal(line?.trace_id, unsampled);

    // Spans are exported in order: once a later sampled request's spans have arrived, any of the unsampled
    // one's would have too.
    const sampled = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
    await http(svc.url, 'GET', `/api/todos/${r.body.todo.id}`, { headers: { traceparent: `00-${sampled}-00f067aa0ba902b7-01` } });
    await waitFor('the sampled request\'s database span', () => receiver.spans.find((s) => s.traceId === sampled && s.name === 'get todos'));
    assert.deepEqual(receiver.spans.filter((s) => s.traceId === unsampled), []);
    assert.equal(receiver.spans.filter((s) => !s.parentSpanId && s.kind === 3).length, 0, 'no database span without a request span');
  });

  test('a 4xx leaves the request span\'s status unset (the client erred), with the exception recorded as an event', async () => {
    const r = await http(svc.url, 'POST', '/api/todos', { body: { title: '' } });
    assert.equal(r.status, 400);
    const [, traceId, spanId] = (r.headers.get('traceresponse') ?? '').split('-');
    const server = await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId));
    assert.equal(server.status?.code ?? 0, 0, 'UNSET');
    assert.deepEqual(attr(server, 'http.response.status_code'), { intValue: 400 });
    assert.deepEqual(server.events?.map((e) => e.name), ['exception']);
  });

  test('an error logged during a request carries the trace ids; the request span is marked failed', async () => {
    // A body that breaks the SQLite statement is not reachable through the API, so break the database file's
    // table instead, as the 5xx test does, and look at the error line.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(svc.dbPath);
    db.exec('ALTER TABLE todos RENAME TO todos_gone');
    db.close();
    try {
      const r = await http(svc.url, 'GET', '/api/todos/1');
      assert.equal(r.status, 500);
      const traceId = (r.headers.get('traceresponse') ?? '').split('-')[1];
      const error = svc.logs.find((l) => l.msg === 'unhandled error' && l.request_id === r.headers.get('x-request-id'));
      assert.equal(error?.trace_id, traceId);
      assert.match(String(error?.span_id), /^[0-9a-f]{16}$/);
      const spanId = (r.headers.get('traceresponse') ?? '').split('-')[2];
      const server = await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId));
      assert.equal(server.status?.code, 2, 'ERROR');
      assert.match(server.status?.message ?? '', /todos/, 'the status carries the exception\'s message');
      assert.deepEqual(server.events?.map((e) => e.name), ['exception']);
    } finally {
      const fix = new Database(svc.dbPath);
      fix.exec('ALTER TABLE todos_gone RENAME TO todos');
      fix.close();
    }
  });
});

test('a root request is sampled on the trace id it answers with: the sampled ones are exported under it, the others not at all', async () => {
  // The sampler decides before the SDK sees the request, on a trace id the SDK then has to use: were it to
  // draw its own, the exported spans would not match the traceresponse of the sampled requests.
  const receiver = await otlpReceiver();
  const svc = await startService({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', // root requests: the ratio; a continued trace: its parent's flag
    OTEL_TRACES_SAMPLER_ARG: '0.5',
  });
  try {
    const answers: string[][] = [];
    for (let i = 0; i < 40; i++) {
      const r = await http(svc.url, 'GET', '/api/todos');
      const answer = (r.headers.get('traceresponse') ?? '').split('-');
      answers.push(answer);
      const line = await waitFor('its log line', () => svc.logs.find((l) => l.msg === 'request completed' && l.request_id === r.headers.get('x-request-id')));
      assert.deepEqual([line.trace_id, line.span_id], [answer[1], answer[2]], 'the log line names the trace and span the response does');
    }
    const sampled = answers.filter((a) => a[3] === '01');
    const unsampled = answers.filter((a) => a[3] === '00');
    assert.equal(sampled.length + unsampled.length, 40, 'every response names its trace, flagged 01 or 00');
    assert.ok(sampled.length > 0 && unsampled.length > 0, `a 0.5 ratio samples some of 40 root requests, not all (${sampled.length})`);
    for (const [, traceId, spanId] of sampled) {
      await waitFor(`the span ${traceId}-${spanId}`, () => receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId && !s.parentSpanId));
    }
    // A continued trace follows its parent's flag, whatever the ratio would say of its trace id: the ratio
    // sampler keeps an id when the XOR of its four 32-bit words is below ratio × 2^32, so it would keep the
    // first (0x000000cf) and drop the second (0xffffffff).
    const unsampledParent = 'cccccccccccccccccccccccccccccc03';
    const r = await http(svc.url, 'GET', '/api/todos', { headers: { traceparent: `00-${unsampledParent}-00f067aa0ba902b7-00` } });
    assert.match(r.headers.get('traceresponse') ?? '', new RegExp(`^00-${unsampledParent}-[0-9a-f]{16}-00$`));
    // Spans are exported in order: once a request sent after all of them has arrived, so would have any of theirs.
    const last = 'ffffffff000000000000000000000000';
    await http(svc.url, 'GET', '/api/todos', { headers: { traceparent: `00-${last}-00f067aa0ba902b7-01` } });
    await waitFor('the last request\'s span', () => receiver.spans.find((s) => s.traceId === last));
    const exported = new Set(receiver.spans.map((s) => s.traceId));
    assert.deepEqual(unsampled.filter(([, traceId]) => exported.has(traceId!)), []);
    assert.ok(!exported.has(unsampledParent), 'a request under an unsampled parent exports nothing');
    assert.equal(new Set(answers.map((a) => a[1])).size, 40, 'each root request has a trace of its own');
  } finally {
    await svc.dispose();
    await receiver.close();
  }
});

test('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json sends JSON, winning over OTEL_EXPORTER_OTLP_PROTOCOL; span times fall within the request', async () => {
  const receiver = await otlpReceiver();
  const svc = await startService({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
  });
  try {
    const before = BigInt(Date.now()) * 1_000_000n;
    const r = await http(svc.url, 'GET', '/api/todos/1');
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    const [, traceId, spanId] = (r.headers.get('traceresponse') ?? '').split('-');
    const server = await waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.spanId === spanId));
    const db = await waitFor('the database span', () => receiver.spans.find((s) => s.traceId === traceId && s.parentSpanId === spanId));
    assert.ok(receiver.contentTypes.length > 0 && receiver.contentTypes.every((t) => t === 'application/json'), receiver.contentTypes.join());
    const times = (s: OtlpSpan) => [BigInt(String(s.startTimeUnixNano)), BigInt(String(s.endTimeUnixNano))] as const;
    const [start, end] = times(server);
    const [dbStart, dbEnd] = times(db);
    assert.ok(before <= start && start <= end && end <= after, `the request span lies within the request (${before} ≤ ${start} ≤ ${end} ≤ ${after})`);
    // A millisecond of slack: the two spans' wall-clock anchors are read separately.
    assert.ok(start - 1_000_000n <= dbStart && dbStart <= dbEnd && dbEnd <= end + 1_000_000n, 'the database span lies within the request span');
  } finally {
    await svc.dispose();
    await receiver.close();
  }
});

test('every request gets trace and span ids of its own: well-formed, never repeated', async () => {
  const svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_TRACES_SAMPLER: 'always_off' });
  try {
    const answers: string[][] = [];
    for (let batch = 0; batch < 20; batch++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => http(svc.url, 'GET', '/health')));
      for (const r of rs) answers.push((r.headers.get('traceresponse') ?? '').split('-'));
    }
    const traceIds = answers.map((a) => a[1]!);
    const spanIds = answers.map((a) => a[2]!);
    for (const id of traceIds) assert.match(id, /^[0-9a-f]{32}$/);
    for (const id of spanIds) assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(new Set(traceIds).size, 400, 'no trace id repeats');
    assert.equal(new Set(spanIds).size, 400, 'no span id repeats');
    assert.ok(!traceIds.includes('0'.repeat(32)) && !spanIds.includes('0'.repeat(16)), 'the invalid all-zero ids are never used');
    // Random hex uses every digit about equally: 400 × 48 digits, ~1200 of each.
    const counts = new Map<string, number>();
    for (const c of traceIds.join('') + spanIds.join('')) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 16);
    for (const [digit, n] of counts) assert.ok(n > 1000 && n < 1400, `digit ${digit} appears ${n} times`);
  } finally {
    await svc.dispose();
  }
});

describe('tracing with PostgreSQL and Redis', { skip: postgres.skip ?? redis.skip }, () => {
  test('each Redis call and each database query is a child span of the request span', async () => {
    const receiver = await otlpReceiver();
    const db = await freshSchema();
    const cache = freshRedisPrefix();
    const svc = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      DATABASE_URL: db.url,
      REDIS_URL: cache.url,
      REDIS_KEY_PREFIX: cache.prefix,
    });
    try {
      const traceOf = (r: { headers: Headers }) => (r.headers.get('traceresponse') ?? '').split('-');
      const created = await http<{ todo: Todo }>(svc.url, 'POST', '/api/todos', { body: { title: 'cached and traced' } });
      const [, postTrace, postSpan] = traceOf(created);
      const read = await http(svc.url, 'GET', `/api/todos/${created.body.todo.id}`);
      const [, getTrace, getSpan] = traceOf(read);

      const span = (traceId: string | undefined, name: string) =>
        waitFor(`${name} in ${traceId}`, () => receiver.spans.find((s) => s.traceId === traceId && s.name === name));
      const insert = await span(postTrace, 'create todos');
      const invalidate = await span(postTrace, 'cache invalidate');
      const miss = await span(getTrace, 'cache read');
      const select = await span(getTrace, 'get todos');
      for (const s of [insert, invalidate]) assert.equal(s.parentSpanId, postSpan, s.name);
      for (const s of [miss, select]) assert.equal(s.parentSpanId, getSpan, s.name);
      assert.deepEqual(attr(insert, 'db.system.name'), { stringValue: 'postgresql' });
      assert.deepEqual(attr(miss, 'db.system.name'), { stringValue: 'redis' });
    } finally {
      await svc.dispose();
      await cache.clear();
      await db.drop();
      await receiver.close();
    }
  });
});

describe('exporting to a collector that fails', () => {
  const sampledGet = (svc: TestService, traceId: string) =>
    http(svc.url, 'GET', '/api/todos', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });

  test('a batch answered 503 is sent again and arrives once', async () => {
    const receiver = await otlpReceiver([503]);
    const svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    try {
      const traceId = 'dddddddddddddddddddddddddddddd01';
      const r = await sampledGet(svc, traceId);
      assert.equal(r.status, 200);
      const spanId = (r.headers.get('traceresponse') ?? '').split('-')[2];
      const isServerSpan = (s: OtlpSpan) => s.traceId === traceId && s.spanId === spanId;
      await waitFor('the retried batch', () => receiver.spans.find(isServerSpan));
      assert.equal(receiver.batches[0]?.status, 503);
      assert.ok(receiver.batches[0]?.spans.some((s) => s.traceId === traceId), 'the first attempt carried the trace');
      await new Promise((resolve) => setTimeout(resolve, 200)); // a duplicate would come in the next batches
      assert.equal(receiver.spans.filter(isServerSpan).length, 1, 'the server span arrived once');
    } finally {
      await svc.dispose();
      await receiver.close();
    }
  });

  test('a batch answered 400 is dropped, not retried; requests are served and later batches arrive', async () => {
    const receiver = await otlpReceiver([400]);
    const svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    try {
      const dropped = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01';
      assert.equal((await sampledGet(svc, dropped)).status, 200);
      await waitFor('the rejected batch', () => receiver.batches[0]);
      const later = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02';
      assert.equal((await sampledGet(svc, later)).status, 200);
      await waitFor('the next batch', () => receiver.spans.find((s) => s.traceId === later));
      assert.equal(receiver.batches[0]!.status, 400);
      assert.ok(receiver.batches[0]!.spans.some((s) => s.traceId === dropped));
      assert.deepEqual(receiver.spans.filter((s) => s.traceId === dropped), [], 'the rejected batch was not sent again');
    } finally {
      await svc.dispose();
      await receiver.close();
    }
  });

  test('with the collector unreachable, requests are served as usual, the lost batch is logged, and shutdown waits no longer than the export timeout', async () => {
    const closed = await otlpReceiver();
    await closed.close(); // a port nothing listens on any more
    const svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: closed.url, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '1500' });
    let stopped = false;
    try {
      for (let i = 0; i < 5; i++) assert.equal((await sampledGet(svc, `ffffffffffffffffffffffffffffff0${i}`)).status, 200);
      await new Promise((r) => setTimeout(r, 200)); // the batch is out, its retries pending
      const stopping = Date.now();
      await svc.dispose();
      stopped = true;
      const took = Date.now() - stopping;
      assert.ok(took < 4000, `shutdown took ${took} ms with a 1500 ms export timeout`);
      const warning = svc.logs.find((l) => l.msg === 'trace export failed; the batch is dropped');
      assert.equal(warning?.level, 'warn', 'the lost batch is logged');
      assert.match(String((warning?.err as { message?: string } | undefined)?.message), /ECONNREFUSED|timed? ?out|timeout/i);
    } finally {
      if (!stopped) await svc.dispose();
    }
  });

  test('spans still buffered at shutdown, with the collector unreachable: the last export fails, the shutdown does not', async () => {
    const closed = await otlpReceiver();
    await closed.close();
    // A long export delay keeps the spans in the buffer until the shutdown exports them.
    const svc = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: closed.url, OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_EXPORTER_OTLP_TIMEOUT: '500' });
    assert.equal((await sampledGet(svc, 'ffffffffffffffffffffffffffffff10')).status, 200);
    await svc.dispose(); // rejected, before, with the export's error
    assert.equal(svc.logs.find((l) => l.msg === 'trace export failed; the batch is dropped')?.level, 'warn');
  });
});

test('with tracing off, a request\'s log line still names the trace id of the caller\'s traceparent (no span id: there is no span)', async () => {
  const svc = await startService();
  try {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const r = await http(svc.url, 'GET', '/api/todos', { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('traceresponse'), null, 'no span, so no traceresponse');
    const line = await waitFor('its log line', () => svc.logs.find((l) => l.msg === 'request completed' && l.request_id === r.headers.get('x-request-id')));
    assert.equal(line.trace_id, traceId);
    assert.equal(line.span_id, undefined);

    // Without a traceparent, or with one that is not valid, the line names no trace.
    for (const headers of [{}, { traceparent: 'garbage' }, { traceparent: `00-${'0'.repeat(32)}-b7ad6b7169203331-01` }]) {
      const plain = await http(svc.url, 'GET', '/api/todos', { headers });
      const other = await waitFor('its log line', () => svc.logs.find((l) => l.msg === 'request completed' && l.request_id === plain.headers.get('x-request-id')));
      assert.equal(other.trace_id, undefined, JSON.stringify(headers));
    }
  } finally {
    await svc.dispose();
  }
});

test('with no OTLP endpoint the OpenTelemetry SDK is never loaded, and no trace header is sent', async () => {
  // Preloads that make loading any OpenTelemetry package fail the process, through require() and import()
  // alike — except the API facade, a no-op without an SDK, which prom-client loads too. The bundle carries
  // the SDK parts it uses in dist/tracing.cjs (scripts/build.mjs), so loading that file is forbidden too.
  const dir = tempDir();
  const forbidden = `(s) => (s.startsWith('@opentelemetry/') && s !== '@opentelemetry/api') || /tracing\\.cjs$/.test(s)`;
  writeFileSync(
    join(dir, 'guard.cjs'),
    `const Module = require('node:module');
     const load = Module._load;
     const forbidden = ${forbidden};
     Module._load = function (request, ...rest) {
       if (forbidden(request)) throw new Error('loaded ' + request);
       return load.call(this, request, ...rest);
     };`,
  );
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `const forbidden = ${forbidden};
     export async function resolve(specifier, context, next) {
       if (forbidden(specifier)) throw new Error('imported ' + specifier);
       return next(specifier, context);
     }`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);`);
  const NODE_OPTIONS = `--require ${join(dir, 'guard.cjs')} --import ${join(dir, 'register.mjs')}`;

  const proc = await spawnService({ NODE_OPTIONS });
  try {
    const r = await http(proc.url, 'GET', '/api/todos', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('traceresponse'), null);
  } finally {
    assert.equal(await proc.stop(), 0);
  }

  // The guard works: with an endpoint configured, the same start-up fails on the first SDK import.
  const traced = spawnService({ NODE_OPTIONS, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  await assert.rejects(traced, /exited \(1\)/);
  await traced.then((p) => p.stop()).catch(() => undefined);
});
