// Prometheus metrics (prom-client). One registry per service instance, so tests can run several side by side.
// Label values are always bounded: the route template (never the raw URL), the method, the status code.
import { availableParallelism } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import client from 'prom-client';
import type { BuildInfo } from '../build-info.js';
import { LeanHistogram, type HistogramSeries } from './histogram.js';
import { collectRuntimeMetrics } from './runtime-metrics.js';

export interface Metrics {
  /** false (METRICS_ENABLED=false): every method below does nothing and there is no /metrics. */
  enabled: boolean;
  registry: client.Registry;
  /** Called once per finished request. `route` is the template (`/api/todos/:id`), or `unmatched`. */
  observeRequest(method: string, route: string, status: number, seconds: number, bytes: number): void;
  requestStarted(): void;
  requestFinished(): void;
  observeQuery(operation: string, seconds: number, failed: boolean): void;
  cacheEvent(result: 'hit' | 'miss' | 'error'): void;
  /** Where scrape-time gauges read from; set by whoever owns the thing measured. */
  sources: MetricSources;
  /** Stops what runs in the background (the GC recording); the service calls it when it closes. */
  close(): void;
}

export interface MetricSources {
  pool?: () => { total: number; idle: number; waiting: number };
  todosStored?: () => Promise<number>;
}

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SIZE_BUCKETS = [64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576];

/** The metrics of METRICS_ENABLED=false: nothing is counted, nothing is collected in the background. */
export function disabledMetrics(): Metrics {
  const nothing = () => {};
  return {
    enabled: false,
    registry: new client.Registry(),
    observeRequest: nothing,
    requestStarted: nothing,
    requestFinished: nothing,
    observeQuery: nothing,
    cacheEvent: nothing,
    sources: {},
    close: nothing,
  };
}

export function createMetrics(build: BuildInfo, version: string, storageKind: string): Metrics {
  const registry = new client.Registry();
  const runtime = collectRuntimeMetrics(registry, 20);
  // prom-client also exports these gauges with a counter's `_total` suffix, which promtool rejects; the same
  // numbers stay available as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  // The label children of each route/method/status, kept after the first request (the key space is bounded
  // by the routes), with the requests counted since the last scrape. Looked up through one map per label, not
  // by a key string joined per request: the route and method strings are the same objects on every request,
  // so their hashes are cached, where a new key string is hashed and compared character by character.
  type Child = { count: client.Counter; uncounted: number; duration: HistogramSeries; size: HistogramSeries };
  const children: Child[] = [];
  const byRoute = new Map<string, Map<string, Map<number, Child>>>();

  // Counting costs a plain increment per request: the counter and the in-flight gauge take their values at
  // scrape time (collect), instead of a prom-client call (label validation, hashing) on every request.
  const requests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
    collect() {
      for (const c of children) {
        if (c.uncounted === 0) continue;
        c.count.inc(c.uncounted);
        c.uncounted = 0;
      }
    },
  });
  // The two histograms every request feeds, and the one every database call feeds, observe on series kept
  // per label set (histogram.ts); prom-client's Histogram would validate and hash the labels on each call.
  const duration = new LeanHistogram(
    'http_request_duration_seconds',
    'Time from receiving a request to finishing its response, by method, route template and status code.',
    ['method', 'route', 'status_code'],
    DURATION_BUCKETS,
    registry,
  );
  const size = new LeanHistogram(
    'http_response_size_bytes',
    'Size of response bodies, by method and route template.',
    ['method', 'route'],
    SIZE_BUCKETS,
    registry,
  );
  let inFlight = 0;
  new client.Gauge({
    name: 'http_requests_in_flight',
    help: 'Requests being handled right now.',
    registers: [registry],
    collect() {
      this.set(inFlight);
    },
  });
  const queries = new LeanHistogram(
    'db_query_duration_seconds',
    'Duration of database operations, by operation and outcome.',
    ['operation', 'outcome'],
    DURATION_BUCKETS,
    registry,
  );
  const querySeries = { ok: new Map<string, HistogramSeries>(), error: new Map<string, HistogramSeries>() };
  const cache = new client.Counter({
    name: 'cache_requests_total',
    help: 'Reads from the Redis cache by result (hit, miss) and failed cache commands (error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const result of ['hit', 'miss', 'error']) cache.labels(result).inc(0);

  const sources: MetricSources = {};
  new client.Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections by state: total, idle, and requests waiting for one.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = sources.pool?.();
      if (!pool) return;
      this.labels('total').set(pool.total);
      this.labels('idle').set(pool.idle);
      this.labels('waiting').set(pool.waiting);
    },
  });
  new client.Gauge({
    name: 'todos_stored',
    help: 'Todos in the database (read from the trigger-kept count at scrape time).',
    registers: [registry],
    async collect() {
      // A scrape during a database outage simply leaves the last value.
      const count = await sources.todosStored?.().catch(() => undefined);
      if (count !== undefined) this.set(count);
    },
  });

  new client.Gauge({
    name: 'todo_service_build_info',
    help: 'Build of the running service; the value is always 1.',
    labelNames: ['version', 'commit', 'node_version', 'storage'] as const,
    registers: [registry],
  })
    .labels(version, build.commit, process.version, storageKind)
    .set(1);

  let last: EventLoopUtilization = performance.eventLoopUtilization();
  new client.Gauge({
    name: 'nodejs_eventloop_utilization_ratio',
    help: 'Share of time the event loop was busy since the previous scrape (0–1).',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, last).utilization);
      last = now;
    },
  });

  const child = (method: string, route: string, status: number) => {
    let byMethod = byRoute.get(route);
    if (!byMethod) byRoute.set(route, (byMethod = new Map<string, Map<number, Child>>()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map<number, Child>()));
    let c = byStatus.get(status);
    if (!c) {
      const code = String(status);
      c = {
        count: requests.labels(method, route, code) as unknown as client.Counter,
        uncounted: 0,
        duration: duration.labels(method, route, code),
        size: size.labels(method, route),
      };
      byStatus.set(status, c);
      children.push(c);
    }
    return c;
  };

  return {
    enabled: true,
    registry,
    observeRequest(method, route, status, seconds, bytes) {
      const c = child(method, route, status);
      c.uncounted++;
      c.duration.observe(seconds);
      c.size.observe(bytes);
    },
    requestStarted: () => void inFlight++,
    requestFinished: () => void inFlight--,
    observeQuery(operation, seconds, failed) {
      const outcome = failed ? 'error' : 'ok';
      let series = querySeries[outcome].get(operation);
      if (!series) querySeries[outcome].set(operation, (series = queries.labels(operation, outcome)));
      series.observe(seconds);
    },
    cacheEvent: (result) => cache.labels(result).inc(),
    sources,
    close: () => runtime.close(),
  };
}

/** The Go reference's JSON /metrics view (memory, runtime, uptime), served at `/metrics/json`. */
export function runtimeStats() {
  const m = process.memoryUsage();
  return {
    memory: {
      rss_bytes: m.rss,
      heap_total_bytes: m.heapTotal,
      heap_used_bytes: m.heapUsed,
      external_bytes: m.external,
      array_buffers_bytes: m.arrayBuffers,
    },
    runtime: {
      version: process.version,
      os: process.platform,
      arch: process.arch,
      cpu_count: availableParallelism(),
      event_loop_utilization: Math.round(performance.eventLoopUtilization().utilization * 1000) / 1000,
      active_handles: process.getActiveResourcesInfo().length,
    },
    uptime_seconds: Math.round(performance.now() / 100) / 10,
    timestamp: new Date().toISOString(),
  };
}
