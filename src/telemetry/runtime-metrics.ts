// Node's runtime metrics: prom-client's default collectors (process CPU and memory, file descriptors, event-loop
// delay, heap spaces, version), except its garbage-collection histogram, which is ours.
//
// prom-client's `nodejs_gc_duration_seconds` is fed by a PerformanceObserver that records only the first entry
// of each callback: a synchronous burst of 990 collections was counted as 50. And that observer, a JavaScript
// callback after every collection (~110 a second under load here), measured ~2–4 % of the throughput of a get
// by id. Here a v8.GCProfiler records the collections inside V8 and is read once a second and at every scrape:
// every collection counted, no JavaScript per collection (docs/DECISIONS.md, "Observability").
import { GCProfiler } from 'node:v8';
import client from 'prom-client';
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { LeanHistogram } from './histogram.js';

/**
 * What prom-client's collectDefaultMetrics runs, by its names (`collectDefaultMetrics.metricsList`), without
 * `gc`. A test compares the two lists, so a prom-client release with another default collector fails it.
 */
export const DEFAULT_COLLECTORS = {
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  eventLoopLag,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
};

/** prom-client's GC kinds, by the collection types a GCProfiler names. */
const GC_KINDS: Record<string, string> = {
  Scavenge: 'minor',
  MinorMarkSweep: 'minor',
  MarkSweepCompact: 'major',
  IncrementalMarking: 'incremental',
  ProcessWeakCallbacks: 'weakcb',
};
/** prom-client's buckets for the GC histogram, in seconds. */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const GC_READ_INTERVAL_MS = 1000;

export interface RuntimeMetrics {
  /** Stops recording collections. */
  close(): void;
}

export function collectRuntimeMetrics(registry: client.Registry, eventLoopMonitoringPrecision: number): RuntimeMetrics {
  const config = { register: registry, eventLoopMonitoringPrecision };
  for (const collect of Object.values(DEFAULT_COLLECTORS)) collect(registry, config);

  const gc = new LeanHistogram(
    'nodejs_gc_duration_seconds',
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    ['kind'],
    GC_BUCKETS,
    registry,
    () => readGc(),
  );
  // Every kind is exported from the start (at 0), so a query over it is never empty before a collection.
  for (const kind of new Set(Object.values(GC_KINDS))) gc.labels(kind);

  // A profiler's record is read by stopping it; the next one starts at once. A collection that would run
  // during the stop itself is the only one not counted.
  let profiler: GCProfiler | undefined = new GCProfiler();
  profiler.start();
  const readGc = () => {
    if (!profiler) return;
    const { statistics } = profiler.stop();
    profiler = new GCProfiler();
    profiler.start();
    // A few hundred collections a second at most; labels() finds the series kept for the kind.
    for (const { gcType, cost } of statistics) gc.labels(GC_KINDS[gcType] ?? 'other').observe(cost / 1e6); // cost: µs
  };
  // Read at every scrape (the histogram's beforeRead) and every second, so the record held inside V8 stays
  // small (a few hundred entries) between scrapes.
  const timer = setInterval(readGc, GC_READ_INTERVAL_MS).unref();

  return {
    close() {
      clearInterval(timer);
      profiler?.stop();
      profiler = undefined;
    },
  };
}
