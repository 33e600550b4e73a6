// The gRPC health checking protocol (grpc.health.v1.Health: Check and Watch), answered from the same readiness
// as /readyz (src/ops/probes.ts): SERVING while every critical check passes, NOT_SERVING from SIGTERM on.
// Kubernetes' native gRPC probes call Check; gRPC clients that balance by health keep a Watch open.
// No maintained implementation exists for Connect (grpc-health-check is grpc-js's), and this is two small RPCs.
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { HealthCheckResponse_ServingStatus as Status, type Health } from './gen/grpc/health/v1/health_pb.js';

export interface HealthService {
  impl: ServiceImpl<typeof Health>;
  /** Evaluates readiness now and tells the watchers if it changed (run() calls it on SIGTERM). */
  refresh(): void;
  /** The server is closing: every Watch sends NOT_SERVING and ends, so that no stream holds the drain up. */
  drain(): void;
}

/**
 * `services`: the names Check and Watch know (`''` is the whole server). While any Watch is open, readiness is
 * evaluated every `pollMs` (one evaluation for all the watchers) and each change is sent.
 */
export function healthService(ready: () => Promise<boolean>, services: string[], pollMs = 2000): HealthService {
  const known = new Set(services);
  const watchers = new Set<() => void>();
  let current: Status | undefined;
  let draining = false;
  let timer: NodeJS.Timeout | undefined;

  const evaluate = async () => (!draining && (await ready().catch(() => false)) ? Status.SERVING : Status.NOT_SERVING);
  const poll = async () => {
    const status = await evaluate();
    if (status === current) return;
    current = status;
    for (const wake of watchers) wake();
  };
  const watching = (wake: () => void, on: boolean) => {
    if (on) watchers.add(wake);
    else watchers.delete(wake);
    if (watchers.size > 0) timer ??= setInterval(() => void poll(), pollMs).unref();
    else if (timer) timer = void clearInterval(timer);
  };

  return {
    impl: {
      async check(req) {
        if (!known.has(req.service)) throw new ConnectError(`Unknown service "${req.service}".`, Code.NotFound);
        return { status: await evaluate() };
      },

      async *watch(req, ctx) {
        let wake = () => {};
        const listener = () => wake();
        watching(listener, true);
        ctx.signal.addEventListener('abort', listener);
        try {
          await poll();
          let sent: Status | undefined;
          for (;;) {
            const woken = new Promise<void>((resolve) => (wake = resolve));
            // An unknown service is not an error for Watch: it may appear later (it never does here).
            const status = known.has(req.service) ? current! : Status.SERVICE_UNKNOWN;
            if (status !== sent) yield { status: (sent = status) };
            if (draining || ctx.signal.aborted) return;
            await woken;
          }
        } finally {
          watching(listener, false);
          ctx.signal.removeEventListener('abort', listener);
        }
      },
    },
    refresh: () => void poll(),
    drain() {
      draining = true;
      current = Status.NOT_SERVING;
      for (const wake of watchers) wake();
    },
  };
}
