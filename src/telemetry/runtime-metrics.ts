// Node's runtime metrics: prom-client's default collectors (process CPU and memory, file descriptors, event-loop
// delay, heap spaces, version), except its garbage-collection histogram, which is ours.
//
// prom-client's `nodejs_gc_duration_seconds` observer records only the first entry of each callback: a
// synchronous burst of 990 collections was counted as 50. Ours reads every entry of every callback. Not a
// v8.GCProfiler: its record can only be read by stopping it, and a stopped profiler goes on writing every
// collection's heap statistics as JSON until its object is garbage-collected, which only a full collection
// does; read once a second, the stopped ones piled up and cost more than the rest of the metrics together
// (docs/DECISIONS.md, "Observability").
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
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

/** prom-client's GC kinds, by the kind Node's `gc` performance entries name. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);
/** prom-client's buckets for the GC histogram, in seconds. */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

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
  );
  // Every kind is exported from the start (at 0), so a query over it is never empty before a collection.
  const byKind = new Map([...GC_KINDS].map(([kind, label]) => [kind, gc.labels(label)]));
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      (byKind.get(kind ?? -1) ?? gc.labels('other')).observe(entry.duration / 1000); // duration: ms
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  return {
    close() {
      observer.disconnect();
    },
  };
}
