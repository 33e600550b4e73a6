// Attack family: slow and idle clients. A POST whose body never comes used to hold its connection for as long
// as the client liked, and 3,000 such connections were all accepted. Now the whole request has
// REQUEST_TIMEOUT_MS, its headers HEADERS_TIMEOUT_MS, an idle kept-alive connection KEEP_ALIVE_TIMEOUT_MS, and
// past MAX_CONNECTIONS new connections are closed at once. Short values here; the defaults are in README.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http, startService, waitFor, type TestService } from '../support/helpers.js';
import { openRaw, parseResponse } from '../support/raw-http.js';

const REQUEST_TIMEOUT_MS = 1200;
const HEADERS_TIMEOUT_MS = 600;
const KEEP_ALIVE_TIMEOUT_MS = 500;
/** Node checks the timeouts on a tick (a quarter of the shorter timeout here), and the machine may be slow. */
const SLACK_MS = 1500;

describe('timeouts', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
    });
  });
  after(async () => {
    await svc.dispose();
  });

  test('a body that never completes is cut after REQUEST_TIMEOUT_MS with a 408 problem, and nothing is stored', async () => {
    const conn = await openRaw(svc.url);
    conn.send('POST /api/todos HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title":"never finished');
    const closedAfter = await conn.closed;
    assert.ok(closedAfter >= REQUEST_TIMEOUT_MS - 100 && closedAfter < REQUEST_TIMEOUT_MS + SLACK_MS, `closed after ${closedAfter.toFixed(0)} ms`);
    const res = parseResponse(conn.received());
    assert.equal(res.status, 408, conn.received());
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal((JSON.parse(res.body) as { status: number }).status, 408);
    const list = await http<{ pagination: { total_items: number } }>(svc.url, 'GET', '/api/todos');
    assert.equal(list.body.pagination.total_items, 0);
  });

  test('headers that trickle in are cut after HEADERS_TIMEOUT_MS', async () => {
    const conn = await openRaw(svc.url);
    conn.send('GET /api/todos HTTP/1.1\r\nHost: test\r\n');
    const trickle = setInterval(() => conn.send('X-Slow: a\r\n'), 100);
    try {
      const closedAfter = await conn.closed;
      assert.ok(closedAfter >= HEADERS_TIMEOUT_MS - 100 && closedAfter < HEADERS_TIMEOUT_MS + SLACK_MS, `closed after ${closedAfter.toFixed(0)} ms`);
      assert.equal(parseResponse(conn.received()).status, 408, conn.received());
    } finally {
      clearInterval(trickle);
    }
  });

  test('an idle kept-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await openRaw(svc.url);
    conn.send('GET /livez HTTP/1.1\r\nHost: test\r\n\r\n');
    await waitFor('the answer', () => (conn.received().includes('"alive"') ? true : undefined));
    const answeredAt = performance.now();
    await conn.closed;
    const idle = performance.now() - answeredAt;
    assert.equal(parseResponse(conn.received()).status, 200);
    assert.ok(idle >= KEEP_ALIVE_TIMEOUT_MS - 100 && idle < KEEP_ALIVE_TIMEOUT_MS + SLACK_MS, `closed ${idle.toFixed(0)} ms after the response`);
  });

  test('a client that keeps sending within the timeouts is served', async () => {
    const conn = await openRaw(svc.url);
    const body = '{"title":"slow but steady"}';
    conn.send(`POST /api/todos HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    for (const ch of body) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      conn.send(ch);
    }
    await conn.closed;
    assert.equal(parseResponse(conn.received()).status, 201, conn.received());
  });
});

describe('MAX_CONNECTIONS', () => {
  const MAX = 8;
  let svc: TestService;
  before(async () => {
    svc = await startService({ MAX_CONNECTIONS: String(MAX) });
  });
  after(async () => {
    await svc.dispose();
  });

  test('past the cap new connections are closed at once; the open ones still work; once one closes, a new one is served', async () => {
    const held = await Promise.all(Array.from({ length: MAX }, () => openRaw(svc.url)));
    // Let the server accept them all before the next knocks.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const extra = await openRaw(svc.url);
    extra.send('GET /livez HTTP/1.1\r\nHost: test\r\n\r\n');
    const extraClosed = await Promise.race([extra.closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 3000))]);
    assert.notEqual(extraClosed, -1, 'the connection past the cap was closed');
    assert.equal(extra.received(), '', 'and answered nothing');

    held[0]!.send('GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    await held[0]!.closed;
    assert.equal(parseResponse(held[0]!.received()).status, 200, 'a connection inside the cap is served');

    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await openRaw(svc.url);
    after.send('GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    await after.closed;
    assert.equal(parseResponse(after.received()).status, 200, 'a new connection once one has closed');
    for (const conn of held) conn.destroy();

    assert.ok(svc.logs.some((l) => l.msg === 'connection refused: MAX_CONNECTIONS reached' && l.max_connections === MAX), 'the refusal is logged');
  });
});
