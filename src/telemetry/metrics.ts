// Prometheus metrics with prom-client's public API. One registry per service instance, so tests can run several
// side by side.
// Label values are always bounded: the route template (never the raw URL), the method, the status code.
import { availableParallelism } from 'node:os';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import client from 'prom-client';
import type { BuildInfo } from '../build-info.js';

export interface Metrics {
  /** false (METRICS_ENABLED=false): every method below does nothing and there is no /metrics. */
  enabled: boolean;
  registry: client.Registry;
  /** Called once per finished request. `route` is the template (`/api/todos/:id`), or `unmatched`. */
  observeRequest(method: string, route: string, status: number, seconds: number, bytes: number): void;
  requestStarted(): void;
  requestFinished(): void;
  /** Called once per finished RPC (gRPC, gRPC-Web, Connect): `code` is the gRPC status name (`OK`, `NOT_FOUND`). */
  observeRpc(service: string, method: string, code: string, protocol: string, seconds: number): void;
  observeQuery(operation: string, seconds: number, failed: boolean): void;
  cacheEvent(result: 'hit' | 'miss' | 'error'): void;
  /** Where scrape-time gauges read from; set by whoever owns the thing measured. */
  sources: MetricSources;
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
    observeRpc: nothing,
    observeQuery: nothing,
    cacheEvent: nothing,
    sources: {},
  };
}

export function createMetrics(build: BuildInfo, version: string, storageKind: string): Metrics {
  const registry = new client.Registry();
  // Node's runtime: process CPU and memory, file descriptors, event-loop delay, heap spaces, version and the
  // garbage-collection histogram.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  // Every GC kind is exported from the start (at 0), so a query over one is never empty before it happens.
  const gc = registry.getSingleMetric('nodejs_gc_duration_seconds') as client.Histogram<'kind'>;
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) gc.zero({ kind });
  // prom-client also exports these gauges with a counter's `_total` suffix, which promtool rejects; the same
  // numbers stay available as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const requests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to finishing its response, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const size = new client.Histogram({
    name: 'http_response_size_bytes',
    help: 'Size of response bodies, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  const inFlight = new client.Gauge({ name: 'http_requests_in_flight', help: 'Requests being handled right now.', registers: [registry] });
  // RPCs (src/grpc/) have their own family: gRPC status names are not HTTP statuses, and a method is not a route.
  const rpcs = new client.Counter({
    name: 'rpc_server_requests_total',
    help: 'RPCs answered (gRPC, gRPC-Web and Connect), by service, method, gRPC status code and protocol.',
    labelNames: ['service', 'method', 'code', 'protocol'] as const,
    registers: [registry],
  });
  const rpcDuration = new client.Histogram({
    name: 'rpc_server_duration_seconds',
    help: 'Time from receiving an RPC to its response (for a stream: to its first message), by service, method and gRPC status code.',
    labelNames: ['service', 'method', 'code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const queries = new client.Histogram({
    name: 'db_query_duration_seconds',
    help: 'Duration of database operations, by operation and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
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

  return {
    enabled: true,
    registry,
    observeRequest(method, route, status, seconds, bytes) {
      const code = String(status);
      requests.labels(method, route, code).inc();
      duration.labels(method, route, code).observe(seconds);
      size.labels(method, route).observe(bytes);
    },
    observeRpc(service, method, code, protocol, seconds) {
      rpcs.labels(service, method, code, protocol).inc();
      rpcDuration.labels(service, method, code).observe(seconds);
    },
    requestStarted: () => inFlight.inc(),
    requestFinished: () => inFlight.dec(),
    observeQuery: (operation, seconds, failed) => queries.labels(operation, failed ? 'error' : 'ok').observe(seconds),
    cacheEvent: (result) => cache.labels(result).inc(),
    sources,
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
