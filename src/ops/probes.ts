// Probes and metrics for the platform: /livez (the process is alive), /readyz (its dependencies answer and it
// is not shutting down), /metrics (Prometheus text) and /metrics/json (the Go reference's runtime view).
// They are served on MANAGEMENT_PORT when it is set, else on the API port.
import Type from 'typebox';
import { PROBLEM_MEDIA_TYPE, ProblemSchema, ProblemType, problemBody } from '../http/problem.js';
import type { SchemaReply, SchemaRequest } from '../http/types.js';
import type { Metrics } from '../telemetry/metrics.js';
import { runtimeStats } from '../telemetry/metrics.js';

export interface Lifecycle {
  /** True from SIGTERM on: /readyz answers 503 while in-flight work drains. */
  shuttingDown: boolean;
  /** True once the shutdown delay is over and the listener closes: responses then close their connection. */
  draining?: boolean;
}

export interface ReadinessCheck {
  name: string;
  /** A failing critical check makes the replica not ready; a failing non-critical one is reported "degraded". */
  critical: boolean;
  check: () => Promise<void>;
}

const CheckResults = Type.Record(Type.String(), Type.String(), {
  description: 'Each check: `ok`, `degraded: <why>` (not critical) or `failed: <why>`.',
  examples: [{ database: 'ok', redis: 'ok', shutdown: 'ok' }],
});

const NotReadySchema = Type.Object({ ...ProblemSchema.properties, checks: CheckResults }, { additionalProperties: true });

export const LivezRoute = {
  operationId: 'livez',
  summary: 'Liveness: the process is up (no dependency checks)',
  tags: ['probes'],
  description: 'Answers while the event loop runs, whatever the database does: a failing liveness probe restarts the process.',
  response: { 200: Type.Object({ status: Type.Literal('alive') }, { description: 'The process is alive.' }) },
};

export const ReadyzRoute = {
  operationId: 'readyz',
  summary: 'Readiness: the database answers (Redis too when required) and the service is not shutting down',
  tags: ['probes'],
  description:
    'Whether this replica should get traffic. Turns 503 at once on SIGTERM, while requests are still served for ' +
    '`SHUTDOWN_DELAY_MS`, so load balancers stop sending first.',
  response: {
    200: Type.Object({ status: Type.Literal('ready'), checks: CheckResults }, { description: 'Ready: every critical check passed.' }),
    // Inline rather than a reference to the shared Problem schema: this route is also served by the management
    // listener, which has no OpenAPI document and so no shared schemas. Typed as its body for the handler.
    503: {
      description: 'Not ready (`urn:todo-service:problem:not-ready`): `checks` says which check failed.',
      content: { [PROBLEM_MEDIA_TYPE]: { schema: NotReadySchema } },
    } as unknown as typeof NotReadySchema,
  },
};

export const MetricsRoute = {
  operationId: 'getMetrics',
  summary: 'Prometheus metrics (text exposition format)',
  tags: ['probes'],
  description: 'Request, runtime, database and cache metrics for Prometheus to scrape.',
  produces: ['text/plain'],
  response: { 200: Type.String({ description: 'The metrics, in Prometheus text format 0.0.4.' }) },
};

export const RuntimeRoute = {
  operationId: 'getRuntimeStats',
  summary: "Runtime statistics as JSON (the Go reference's /metrics view)",
  tags: ['probes'],
  description: 'Memory, runtime and uptime of the process as JSON, for humans and for clients of the Go reference.',
  response: {
    200: Type.Object({
      memory: Type.Record(Type.String(), Type.Number()),
      runtime: Type.Object({}, { additionalProperties: true }),
      uptime_seconds: Type.Number(),
      timestamp: Type.String({ format: 'date-time' }),
    }, { description: 'Runtime statistics.' }),
  },
};

const withTimeout = (ms: number, work: Promise<void>) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

export interface ReadinessDeps {
  lifecycle: Lifecycle;
  checks: ReadinessCheck[];
  checkTimeoutMs: number;
}

/** Runs every check (each bounded by the timeout): what /readyz and the gRPC health service answer from. */
export async function readiness(deps: ReadinessDeps): Promise<{ checks: Record<string, string>; failed: string[] }> {
  const checks: Record<string, string> = {};
  const failed: string[] = [];
  await Promise.all(
    deps.checks.map(async ({ name, critical, check }) => {
      try {
        await withTimeout(deps.checkTimeoutMs, check());
        checks[name] = 'ok';
      } catch (error) {
        const why = (error as Error).message || 'failed';
        checks[name] = critical ? `failed: ${why}` : `degraded: ${why}`;
        if (critical) failed.push(name);
      }
    }),
  );
  checks.shutdown = deps.lifecycle.shuttingDown ? 'failed: shutting down' : 'ok';
  if (deps.lifecycle.shuttingDown) failed.push('shutdown');
  return { checks, failed };
}

export function probeHandlers(deps: ReadinessDeps & { metrics: Metrics }) {
  return {
    livez: async () => ({ status: 'alive' as const }),

    readyz: async (req: SchemaRequest<typeof ReadyzRoute>, reply: SchemaReply<typeof ReadyzRoute>) => {
      const { checks, failed } = await readiness(deps);
      if (failed.length === 0) return reply.send({ status: 'ready' as const, checks });
      const problem = problemBody(
        { status: 503, type: ProblemType.notReady, title: 'Not ready', detail: `Failing checks: ${failed.join(', ')}.` },
        req.url,
        req.id,
      );
      return reply.code(503).type('application/problem+json').send({ ...problem, checks });
    },

    metrics: async (_req: unknown, reply: SchemaReply<typeof MetricsRoute>) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },

    runtime: async () => runtimeStats(),
  };
}
