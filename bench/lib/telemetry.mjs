// The cost of telemetry: metrics on and tracing exporting at 10 % sampling, against both off. It is measured
// and reported, with no verdict (the old target, a cost of at most 10 %, is retired). Two variants of our
// service, measured in pairs:
//   off — METRICS_ENABLED=false and no OTLP endpoint (no metrics kept, no OpenTelemetry module loaded);
//   on  — metrics on, tracing with parentbased_traceidratio 0.1, exporting over OTLP/HTTP to a sink that this
//         process runs on the load generator's core (it counts the spans, so the report shows they arrived).
// Each round measures every scenario with both variants side by side: two fresh servers sharing the server
// core, each loaded by its own wrk over the same seconds (runSideBySide in run.mjs). This machine's speed
// drifts by tens of percent over minutes; measured one after the other, a pair's ratio moved by ±20 % between
// rounds, side by side both servers see the same machine. The reported ratio balances the start orders
// (balancedRatio).

import { createServer } from 'node:http';
import { decodeTraceRequest } from '../../test/support/otlp.mjs';

export const TELEMETRY_VARIANTS = [
  { name: 'off', label: 'metrics off, tracing off', env: { METRICS_ENABLED: 'false' } },
  {
    name: 'on',
    label: 'metrics on, tracing 10 % exported',
    env: {
      METRICS_ENABLED: 'true',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_BSP_SCHEDULE_DELAY: '1000', // the service's default, pinned against a .env or shell that sets another
    },
    otlp: true,
  },
];

/** An OTLP/HTTP receiver (protobuf or JSON) that counts what it gets and answers 200. */
export async function startOtlpSink() {
  const stats = { requests: 0, spans: 0, bytes: 0, badRequests: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      stats.requests++;
      stats.bytes += body.length;
      try {
        stats.spans += decodeTraceRequest(body, req.headers['content-type']).length;
      } catch {
        stats.badRequests++;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Server CPU time per request, in microseconds, of one measured run. */
export const cpuMicrosPerRequest = (run) => (run.rps > 0 ? (run.cpuPercent / 100 / run.rps) * 1e6 : null);

/**
 * The on/off ratio of a scenario's rounds, with the start order balanced out. Which variant is launched first
 * alternates between rounds, and the order itself moves the ratio: two identical servers measured 0.82–0.94
 * when one was launched first and 1.02–1.16 when it was launched second (2026-12-02, 8 rounds). So the rounds of
 * each order are summarised by their median, and the two medians by their geometric mean: each order weighs
 * the same whatever the number of rounds (with 5 rounds a plain median leaned to the order that ran 3 times).
 * `firsts[i]` names the variant launched first in round i.
 */
export function balancedRatio(ratios, firsts) {
  const byOrder = ['off', 'on'].map((first) => median(ratios.filter((r, i) => firsts[i] === first)));
  const present = byOrder.filter((m) => m != null);
  if (present.length === 0) return null;
  return present.length === 1 ? present[0] : Math.sqrt(present[0] * present[1]);
}

/**
 * Summarises the rounds of one scenario: medians per variant and the paired ratio on/off, balanced over the
 * start order (balancedRatio).
 */
export function summariseTelemetry(rounds) {
  const pick = (variant, f) => rounds.map((r) => (r[variant] && !r[variant].error ? f(r[variant]) : NaN));
  const ratios = rounds.map((r) => (r.on?.rps && r.off?.rps ? r.on.rps / r.off.rps : NaN));
  const cpuRatios = rounds.map((r) => {
    const on = r.on && cpuMicrosPerRequest(r.on);
    const off = r.off && cpuMicrosPerRequest(r.off);
    return on && off ? on / off : NaN;
  });
  const firsts = rounds.map((r) => r.first);
  const ratio = balancedRatio(ratios, firsts);
  return {
    off: { rps: median(pick('off', (x) => x.rps)), cpuUsPerRequest: median(pick('off', cpuMicrosPerRequest)), p99Ms: median(pick('off', (x) => x.latencyMs.p99)) },
    on: { rps: median(pick('on', (x) => x.rps)), cpuUsPerRequest: median(pick('on', cpuMicrosPerRequest)), p99Ms: median(pick('on', (x) => x.latencyMs.p99)) },
    ratios,
    firsts,
    ratio,
    cpuRatio: balancedRatio(cpuRatios, firsts),
    cost: ratio == null ? null : 1 - ratio,
  };
}
