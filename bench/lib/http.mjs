// Minimal HTTP client helpers on node:http (no dependencies): one request, polling for a healthy
// server, and seeding todos through POST /api/todos with a bounded number of requests in flight.

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * One request. Resolves { status, body } (body as text); rejects on socket errors or timeout.
 * @param {string} url  absolute URL
 * @param {{ method?: string, json?: unknown, agent?: http.Agent|false, timeoutMs?: number }} [opts]
 */
export function request(url, { method = 'GET', json, agent = false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Polls GET <base>/health every `intervalMs` until it answers 200. Resolves the time (performance.now())
 * of that first 200 response. Rejects after `timeoutMs`, or as soon as `exited()` returns true.
 */
export async function waitHealthy(base, { intervalMs = 2, timeoutMs = 20_000, exited = () => false } = {}) {
  const deadline = performance.now() + timeoutMs;
  let lastProblem = 'no answer';
  while (performance.now() < deadline) {
    if (exited()) throw new Error(`the server exited before it was healthy (${lastProblem})`);
    try {
      const res = await request(`${base}/health`, { timeoutMs: 1000 });
      if (res.status === 200) return performance.now();
      lastProblem = `GET /health answered ${res.status}`;
    } catch (err) {
      lastProblem = err.code ?? err.message;
    }
    await sleep(intervalMs);
  }
  throw new Error(`not healthy after ${timeoutMs} ms (${lastProblem})`);
}

/**
 * Creates `count` todos through POST /api/todos, `concurrency` at a time, over keep-alive connections.
 * Resolves the created ids (sorted ascending). Rejects on the first failure.
 */
export async function seedTodos(base, count, concurrency = 32) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const ids = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = ++next;
      const res = await request(`${base}/api/todos`, {
        method: 'POST',
        agent,
        timeoutMs: 30_000,
        json: { title: `Seed todo #${n}`, description: `Created by the benchmark before the scenarios (${n}/${count})` },
      });
      if (res.status !== 201) throw new Error(`seeding: POST /api/todos answered ${res.status}: ${res.body.slice(0, 200)}`);
      const id = JSON.parse(res.body)?.todo?.id;
      if (!Number.isInteger(id)) throw new Error(`seeding: no integer todo.id in ${res.body.slice(0, 200)}`);
      ids.push(id);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    agent.destroy();
  }
  return ids.sort((a, b) => a - b);
}
