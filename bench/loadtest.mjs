#!/usr/bin/env node
// Load test of a running Todo service (`npm run loadtest -- <url> [options]`):
//
//   node bench/loadtest.mjs <url> [--connections N] [--requests N] [--duration S] [--metrics URL] [--raw-metrics]
//
//   --connections N  concurrent connections (default 10)
//   --requests N     total requests (default 1000; when given, it wins over --duration)
//   --duration S     run for S seconds instead of a request count
//   --metrics URL    where the server's metrics are (default <url>/metrics; with MANAGEMENT_PORT set, that port's)
//   --raw-metrics    also print the server's whole /metrics exposition as it was after the run
//
// It first checks GET <url>/health and refuses (exit 1) unless that answers 200. Then it alternates
// GET <url>/api/todos and GET <url>/health on every connection (autocannon), shows progress on stderr,
// and prints a summary per endpoint and a latency histogram — the client's view — and then the server's own
// view of the same run: its /metrics scraped before and after, digested by lib/prometheus.mjs (requests,
// 4xx/5xx and p50/p99 per route from its histograms beside the client's p99, CPU, RSS, heap, event-loop delay,
// GC and database time over the run). A /metrics that is not Prometheus text (the Go reference's JSON) is
// printed as-is.

import { request } from './lib/http.mjs';
import { metricsDigest } from './lib/prometheus.mjs';

const USAGE = 'usage: npm run loadtest -- <url> [--connections N] [--requests N] [--duration S] [--metrics URL] [--raw-metrics]';

function parseArgs(argv) {
  const args = { url: null, connections: 10, requests: null, duration: null, metricsUrl: null, rawMetrics: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    }
    if (arg === '--raw-metrics') {
      args.rawMetrics = true;
      continue;
    }
    const metrics = /^--metrics(?:=(.*))?$/.exec(arg);
    if (metrics) {
      args.metricsUrl = metrics[1] ?? argv[++i] ?? '';
      continue;
    }
    const match = /^--(connections|requests|duration)(?:=(.*))?$/.exec(arg);
    if (match) {
      const raw = match[2] ?? argv[++i];
      const value = Number(raw);
      if (!Number.isFinite(value) || value <= 0 || (match[1] !== 'duration' && !Number.isInteger(value))) {
        fail(`--${match[1]} needs a positive ${match[1] === 'duration' ? 'number' : 'whole number'}, got "${raw ?? ''}"`);
      }
      args[match[1]] = value;
    } else if (!arg.startsWith('-') && args.url === null) {
      args.url = arg;
    } else {
      fail(`unexpected argument "${arg}"`);
    }
  }
  if (!args.url) fail('missing <url>');
  for (const [name, value] of [['<url>', args.url], ['--metrics', args.metricsUrl]]) {
    if (value === null) continue;
    try {
      const url = new URL(value);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      fail(`${name}: not an http(s) URL: "${value}"`);
    }
  }
  if (args.requests === null && args.duration === null) args.requests = 1000;
  return args;
}

function fail(message) {
  console.error(`loadtest: ${message}\n${USAGE}`);
  process.exit(1);
}

// --- statistics -----------------------------------------------------------------------------------------

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const fmtMs = (v) => (Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

function histogram(latencies) {
  const counts = new Array(BUCKETS_MS.length + 1).fill(0);
  for (const v of latencies) {
    let i = BUCKETS_MS.findIndex((limit) => v <= limit);
    if (i === -1) i = BUCKETS_MS.length;
    counts[i]++;
  }
  const first = counts.findIndex((c) => c > 0);
  const last = counts.findLastIndex((c) => c > 0);
  if (first === -1) return ['  (no responses)'];
  const max = Math.max(...counts);
  const width = 40;
  const lines = [];
  let cumulative = 0;
  for (let i = first; i <= last; i++) {
    cumulative += counts[i];
    const label = i < BUCKETS_MS.length ? `≤ ${BUCKETS_MS[i]} ms` : `> ${BUCKETS_MS.at(-1)} ms`;
    const bar = '█'.repeat(Math.round((counts[i] / max) * width)) || (counts[i] ? '▏' : '');
    const pct = ((counts[i] / latencies.length) * 100).toFixed(1);
    const cum = ((cumulative / latencies.length) * 100).toFixed(1);
    lines.push(`  ${label.padStart(11)}  ${bar.padEnd(width)}  ${String(counts[i]).padStart(8)}  ${pct.padStart(5)} %  (cum ${cum.padStart(5)} %)`);
  }
  return lines;
}

// --- progress -------------------------------------------------------------------------------------------

function startProgress(args, stats) {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const render = (force = false) => {
    const elapsed = (Date.now() - started) / 1000;
    const fraction = args.requests ? stats.done / args.requests : Math.min(1, elapsed / args.duration);
    const filled = Math.round(fraction * 30);
    const line =
      `[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${(fraction * 100).toFixed(0).padStart(3)} %  ` +
      `${stats.done}${args.requests ? `/${args.requests}` : ''} responses  ${Math.round(stats.done / Math.max(elapsed, 0.001))} req/s  ` +
      `${stats.errors} errors  ${elapsed.toFixed(1)} s`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (force || Date.now() - lastLine >= 1000) {
      process.stderr.write(`${line}\n`);
      lastLine = Date.now();
    }
  };
  const timer = setInterval(render, tty ? 100 : 250);
  return () => {
    clearInterval(timer);
    render(true);
    if (tty) process.stderr.write('\n');
  };
}

// --- main -----------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const base = args.url.replace(/\/+$/, '');
  const prefix = new URL(base).pathname.replace(/\/+$/, '');
  const origin = new URL(base).origin;

  // 1. Refuse unless the service is healthy.
  try {
    const res = await request(`${base}/health`, { timeoutMs: 5000 });
    if (res.status !== 200) {
      console.error(`loadtest: refusing to load ${base}: GET /health answered ${res.status} (expected 200): ${res.body.slice(0, 200)}`);
      process.exit(1);
    }
  } catch (err) {
    console.error(`loadtest: refusing to load ${base}: GET /health failed: ${err.code ?? err.message}`);
    process.exit(1);
  }

  // The server's metrics before the run (the digest shows what changed); none if it has no Prometheus /metrics.
  const metricsUrl = args.metricsUrl ?? `${base}/metrics`;
  const metricsBefore = await scrape(metricsUrl);
  const scrapedAt = performance.now();

  if (args.requests && args.duration) console.error(`loadtest: both --requests and --duration given; stopping after ${args.requests} requests`);
  if (args.requests && args.connections > args.requests) {
    console.error(`loadtest: only ${args.requests} requests: using ${args.requests} connections instead of ${args.connections}`);
    args.connections = args.requests;
  }

  // 2. Load. Each request entry's onResponse runs right before autocannon's 'response' event for the same
  //    response, which lets the event handler attribute the latency to the endpoint.
  const endpoints = ['/api/todos', '/health'].map((path) => ({ path, latencies: [], statuses: {} }));
  let current = null;
  const stats = { done: 0, errors: 0 };
  const requests = endpoints.map((endpoint) => ({
    method: 'GET',
    path: prefix + endpoint.path,
    onResponse: () => {
      current = endpoint;
    },
  }));

  const mode = args.requests ? `${args.requests} requests` : `${args.duration} s`;
  console.error(`loadtest: ${mode} over ${args.connections} connections, alternating GET ${prefix}/api/todos and GET ${prefix}/health on ${origin}`);

  const autocannon = await import('autocannon').then(
    (m) => m.default,
    () => {
      console.error('loadtest: autocannon is not installed (it is a devDependency: run npm install)');
      process.exit(1);
    },
  );
  const instance = autocannon({
    url: origin,
    connections: args.connections,
    ...(args.requests ? { amount: args.requests } : { duration: args.duration }),
    timeout: 10,
    requests,
  });
  const all = [];
  const startedAt = performance.now();
  let lastResponseAt = startedAt;
  let bytes = 0;
  instance.on('response', (_client, status, resBytes, latencyMs) => {
    stats.done++;
    bytes += resBytes;
    lastResponseAt = performance.now();
    all.push(latencyMs);
    if (current) {
      current.latencies.push(latencyMs);
      current.statuses[status] = (current.statuses[status] ?? 0) + 1;
      current = null;
    }
  });
  instance.on('reqError', () => stats.errors++);
  const stopProgress = startProgress(args, stats);
  process.once('SIGINT', () => instance.stop());
  const result = await instance;
  stopProgress();

  // 3. Report.
  const out = [];
  out.push('');
  // autocannon's own duration runs to its next 1-second tick after the last response: time it ourselves.
  const seconds = (lastResponseAt - startedAt) / 1000;
  out.push(`Target: ${base}    ${all.length} responses in ${seconds.toFixed(2)} s → ${Math.round(all.length / Math.max(seconds, 0.001))} req/s`);
  out.push(
    `Errors: ${result.errors} socket errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx responses` +
      `    Throughput: ${(bytes / 1024 / 1024 / Math.max(seconds, 0.001)).toFixed(2)} MB/s`,
  );
  out.push('');
  out.push(`  ${'endpoint'.padEnd(16)}  ${'responses'.padStart(9)}  ${'p50 ms'.padStart(7)}  ${'p90 ms'.padStart(7)}  ${'p99 ms'.padStart(7)}  ${'max ms'.padStart(7)}  status codes`);
  for (const endpoint of [...endpoints.map((e) => ({ ...e, label: `GET ${e.path}` })), { label: '(all)', latencies: all, statuses: null }]) {
    const sorted = Float64Array.from(endpoint.latencies).sort();
    const codes = endpoint.statuses
      ? Object.entries(endpoint.statuses).map(([code, n]) => `${code}×${n}`).join(' ')
      : Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => `${code}×${v.count}`).join(' ');
    out.push(
      `  ${endpoint.label.padEnd(16)}  ${String(sorted.length).padStart(9)}  ${fmtMs(percentile(sorted, 50)).padStart(7)}  ` +
        `${fmtMs(percentile(sorted, 90)).padStart(7)}  ${fmtMs(percentile(sorted, 99)).padStart(7)}  ${fmtMs(sorted.at(-1) ?? NaN).padStart(7)}  ${codes}`,
    );
  }
  out.push('');
  out.push('Latency histogram (all responses):');
  out.push(...histogram(all));
  out.push('');

  // 4. The server's own view of the run.
  const metricsAfter = await scrape(metricsUrl);
  const scrapeSeconds = (performance.now() - scrapedAt) / 1000;
  const where = `GET ${metricsUrl}`;
  if (metricsAfter.error) {
    out.push(`Server metrics: not available (${where} ${metricsAfter.error}).`);
  } else {
    const clientP99Ms = { '(all)': percentile(Float64Array.from(all).sort(), 99) };
    for (const e of endpoints) clientP99Ms[`GET ${e.path}`] = percentile(Float64Array.from(e.latencies).sort(), 99);
    const digest = metricsBefore.body && metricsDigest(metricsBefore.body, metricsAfter.body, { seconds: scrapeSeconds, clientP99Ms });
    if (digest) out.push(...digest);
    else if (!metricsBefore.body) out.push(`Server metrics: no digest (${where} failed before the run: ${metricsBefore.error}).`);
    else out.push(`Server metrics (${where}: not this service's Prometheus text, printed as-is):`, metricsAfter.body.trimEnd());
    if (args.rawMetrics && digest) out.push('', `Server metrics, raw (${where}):`, metricsAfter.body.trimEnd());
  }
  console.log(out.join('\n'));
}

/** GET of the metrics: { body } on 200, else { error }. */
async function scrape(url) {
  try {
    const res = await request(url, { timeoutMs: 5000 });
    return res.status === 200 ? { body: res.body } : { error: `answered ${res.status}` };
  } catch (err) {
    return { error: `failed: ${err.code ?? err.message}` };
  }
}

main().catch((err) => {
  console.error(`loadtest: ${err.stack ?? err.message}`);
  process.exit(1);
});
