// The server's own view of a load test (bench/loadtest.mjs), from two scrapes of its Prometheus /metrics, one
// before and one after the run: what changed in between. It reads the metrics this service exports through
// prom-client (src/telemetry/metrics.ts):
//   http_requests_total, http_request_duration_seconds (histogram) by method, route and status code;
//   db_query_duration_seconds (histogram) by operation and outcome;
//   process_cpu_seconds_total, process_resident_memory_bytes, nodejs_heap_size_{used,total}_bytes;
//   nodejs_eventloop_lag_{mean,p99,max}_seconds and nodejs_eventloop_utilization_ratio, which prom-client
//     resets at every scrape, so the second scrape covers the run — unless something else (a Prometheus)
//     scraped in between;
//   nodejs_gc_duration_seconds (histogram) by kind.
// Quantiles are estimated from the histogram buckets as Prometheus's histogram_quantile() does: linear within
// the bucket that holds the rank, so they are only as fine as the buckets (0.5, 1, 2.5, 5, 10, 25 ms, …).

/** Parses the Prometheus text format into samples [{ name, labels, value }]; [] if it is not that format. */
export function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, key, raw] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

const keyOf = (labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));

/** after − before for every sample of `after` (a sample missing before counts from 0): counters over the run. */
function difference(before, after) {
  const old = new Map(before.map((s) => [`${s.name}${keyOf(s.labels)}`, s.value]));
  return after.map((s) => ({ ...s, value: s.value - (old.get(`${s.name}${keyOf(s.labels)}`) ?? 0) }));
}

const pick = (samples, name, match = {}) =>
  samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
const total = (samples, name, match) => pick(samples, name, match).reduce((sum, s) => sum + s.value, 0);
const single = (samples, name) => pick(samples, name)[0]?.value ?? null;

/**
 * The q-quantile of the histogram `name` over the samples matching `match` (their buckets summed, e.g. over
 * status codes), like histogram_quantile(): null without observations; { value, beyond: true } (the highest
 * finite bound) when the rank falls in the +Inf bucket; { value, within: true } (the lowest bucket's bound) when
 * it falls in the lowest bucket, where interpolating from 0 would invent a figure.
 */
export function histogramQuantile(samples, name, match, q) {
  const byBound = new Map();
  for (const s of pick(samples, `${name}_bucket`, match)) {
    const le = Number(s.labels.le === '+Inf' ? Infinity : s.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  const buckets = [...byBound].sort(([a], [b]) => a - b);
  const count = buckets.at(-1)?.[1] ?? 0;
  if (count <= 0) return null;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (bound === Infinity) return { value: lowerBound, beyond: true };
      // In the lowest bucket the interpolation from 0 says nothing: only that it is within the bound.
      if (lowerCount === 0 && lowerBound === 0) return { value: bound, within: true };
      return { value: lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / Math.max(cumulative - lowerCount, 1e-12) };
    }
    [lowerBound, lowerCount] = [bound, cumulative];
  }
  return { value: lowerBound, beyond: true };
}

const num = (n, digits = 0) =>
  n == null || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const msText = (seconds) => (seconds == null ? '–' : seconds * 1000 < 10 ? num(seconds * 1000, 2) : num(seconds * 1000, seconds * 1000 < 100 ? 1 : 0));
const quantileText = (qv) => (qv == null ? '–' : `${qv.beyond ? '> ' : qv.within ? '≤ ' : ''}${msText(qv.value)}`);
const mb = (bytes) => (bytes == null ? '–' : num(bytes / 1024 / 1024, 1));

/**
 * The digest: one row per route the server answered during the run (requests, 4xx, 5xx, its own p50/p99, and
 * the client's p99 beside it when `clientP99Ms` has that route, keyed "GET /api/todos"), then the process:
 * CPU, memory, event-loop delay, GC, database operations. Returns lines, or null when `after` holds none of the
 * HTTP metrics (not this service's Prometheus text).
 */
export function metricsDigest(beforeText, afterText, { seconds, clientP99Ms = {} }) {
  const before = parsePrometheus(beforeText);
  const after = parsePrometheus(afterText);
  if (!pick(after, 'http_requests_total').length) return null;
  const run = difference(before, after);

  const routes = new Map();
  for (const s of pick(run, 'http_requests_total')) {
    if (s.value <= 0) continue;
    const key = `${s.labels.method} ${s.labels.route}`;
    const r = routes.get(key) ?? { method: s.labels.method, route: s.labels.route, requests: 0, c4xx: 0, c5xx: 0 };
    r.requests += s.value;
    if (s.labels.status_code?.startsWith('4')) r.c4xx += s.value;
    if (s.labels.status_code?.startsWith('5')) r.c5xx += s.value;
    routes.set(key, r);
  }
  const rows = [...routes.entries()].sort(([, a], [, b]) => b.requests - a.requests);
  const all = rows.reduce((sum, [, r]) => ({ requests: sum.requests + r.requests, c4xx: sum.c4xx + r.c4xx, c5xx: sum.c5xx + r.c5xx }), { requests: 0, c4xx: 0, c5xx: 0 });
  const line = (label, r, match, client) => {
    const duration = 'http_request_duration_seconds';
    return [
      label.padEnd(24),
      num(r.requests).padStart(9),
      num(r.c4xx).padStart(6),
      num(r.c5xx).padStart(6),
      quantileText(histogramQuantile(run, duration, match, 0.5)).padStart(8),
      quantileText(histogramQuantile(run, duration, match, 0.99)).padStart(8),
      (client == null ? '' : client < 10 ? num(client, 2) : num(client, 1)).padStart(12),
    ].join('  ');
  };
  const out = [];
  out.push(`Server's view (its /metrics scraped before and after the run, ${num(seconds, 1)} s apart; latency from its histograms):`);
  out.push(['  route'.padEnd(24), 'requests'.padStart(9), '4xx'.padStart(6), '5xx'.padStart(6), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'client p99 ms'.padStart(12)].join('  '));
  for (const [key, r] of rows) out.push(line(`  ${key}`, r, { method: r.method, route: r.route }, clientP99Ms[key]));
  out.push(line('  (all)', all, {}, clientP99Ms['(all)']));

  const cpu = single(run, 'process_cpu_seconds_total');
  const rss = [single(before, 'process_resident_memory_bytes'), single(after, 'process_resident_memory_bytes')];
  const heap = [single(before, 'nodejs_heap_size_used_bytes'), single(after, 'nodejs_heap_size_used_bytes')];
  out.push(
    `  CPU ${num(cpu, 2)} s (${num((cpu / seconds) * 100)} % of a core, ${num(all.requests ? (cpu / all.requests) * 1e6 : null)} µs a request); ` +
      `RSS ${mb(rss[0])} → ${mb(rss[1])} MB; heap used ${mb(heap[0])} → ${mb(heap[1])} MB of ${mb(single(after, 'nodejs_heap_size_total_bytes'))} MB`,
  );
  // prom-client's figures come from monitorEventLoopDelay, whose every sample includes its own timer interval
  // (20 ms in this service): an idle loop reads about that, as "min".
  const lag = (name) => msText(single(after, `nodejs_eventloop_lag_${name}_seconds`));
  const elu = single(after, 'nodejs_eventloop_utilization_ratio');
  out.push(
    `  Event loop: busy ${elu == null ? '–' : `${num(elu * 100)} %`} of the time; delay min ${lag('min')}, mean ${lag('mean')}, p99 ${lag('p99')}, ` +
      `max ${lag('max')} ms (each sample includes the monitor's timer interval, which an idle loop reads as min)`,
  );
  const gcKinds = pick(run, 'nodejs_gc_duration_seconds_count').filter((s) => s.value > 0);
  const gcSeconds = total(run, 'nodejs_gc_duration_seconds_sum');
  out.push(
    `  GC: ${num(gcSeconds * 1000)} ms (${num((gcSeconds / seconds) * 100, 1)} % of the run)` +
      (gcKinds.length ? `: ${gcKinds.map((s) => `${num(s.value)} ${s.labels.kind} (${num(total(run, 'nodejs_gc_duration_seconds_sum', { kind: s.labels.kind }) * 1000)} ms)`).join(', ')}` : ''),
  );
  const operations = pick(run, 'db_query_duration_seconds_count').filter((s) => s.value > 0);
  if (operations.length) {
    const text = operations.map((s) => `${s.labels.operation}${s.labels.outcome === 'ok' ? '' : ` (${s.labels.outcome})`} ${num(s.value)} × p99 ${quantileText(histogramQuantile(run, 'db_query_duration_seconds', s.labels, 0.99))} ms`);
    out.push(`  Database: ${text.join('; ')}`);
  }
  return out;
}
