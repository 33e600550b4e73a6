// The OTLP exporter's transport: the serialized batch (OpenTelemetry's serializer runs on the main thread)
// is handed to a worker thread, which POSTs it to the collector with node:http and answers with the outcome.
//
// Why a thread: Node's HTTP client shares its classes with the HTTP server (OutgoingMessage, IncomingMessage,
// the stream machinery). Exporting from the main thread, even once a second, feeds client-side objects into the
// code every request runs through, and V8's inline caches there go polymorphic or megamorphic for all requests:
// at 10 % sampling a get by id measured 0.76 of the untraced throughput with OpenTelemetry's HTTP exporter, 0.85
// with this thread and with an exporter that sends nothing (docs/DECISIONS.md, "Observability"). The thread has
// its own isolate, so nothing it runs touches the request path's JIT state, and its event loop is not the one
// requests wait on.
import { Worker } from 'node:worker_threads';
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';

interface SendMessage {
  id: number;
  body: Uint8Array;
  timeoutMillis: number;
}

/** What the thread answers for a batch; an error travels as its message. */
type Outcome =
  | { id: number; status: 'success'; data?: Uint8Array }
  | { id: number; status: 'failure' | 'retryable'; error: string; retryInMillis?: number };

/**
 * The thread's program. It is started from its source text (`new Worker(source, { eval: true })`), which works
 * the same from the bundle and from the TypeScript sources under tsx, so it must reference nothing outside
 * itself: its modules come from require() inside.
 *
 * Retries follow OpenTelemetry's own HTTP exporter: 429, 502, 503, 504 and network errors are retried up to
 * five times, with exponential backoff (1 s, ×1.5, at most 5 s, ±20 % jitter) or the collector's Retry-After,
 * within the export timeout.
 */
function exportThreadMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- the thread starts from source text (see above) */
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const http = require('node:http') as typeof import('node:http');
  const https = require('node:https') as typeof import('node:https');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const parentPort = threads.parentPort!;
  const { url, headers, userAgent } = threads.workerData as { url: string; headers: Record<string, string>; userAgent: string };
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: 2 });
  const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
  const RETRYABLE_ERROR = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH']);

  type Attempt =
    | { ok: true; data: Buffer }
    | { ok: false; retryable: boolean; error: string; retryAfterMs?: number | undefined };

  const retryAfter = (value: string | string[] | undefined): number | undefined => {
    const raw = Array.isArray(value) ? value[0] : value;
    if (!raw) return undefined;
    const seconds = Number(raw);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(raw);
    return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
  };

  const post = (body: Buffer, timeoutMillis: number) =>
    new Promise<Attempt>((resolve) => {
      const req = client.request(
        target,
        {
          method: 'POST',
          agent,
          timeout: timeoutMillis,
          headers: { ...headers, 'content-length': body.length, 'user-agent': userAgent },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => resolve({ ok: false, retryable: true, error: error.message }));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve({ ok: true, data: Buffer.concat(chunks) });
            resolve({
              ok: false,
              retryable: RETRYABLE_STATUS.has(status),
              error: `collector answered ${status} ${res.statusMessage ?? ''}`.trim(),
              retryAfterMs: retryAfter(res.headers['retry-after']),
            });
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('export request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, retryable: RETRYABLE_ERROR.has(error.code ?? ''), error: error.message }));
      req.end(body);
    });

  const send = async ({ id, body, timeoutMillis }: SendMessage): Promise<Outcome> => {
    const payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const deadline = Date.now() + timeoutMillis;
    let backoff = 1000;
    for (let attempt = 1; ; attempt++) {
      const result = await post(payload, Math.max(1, deadline - Date.now()));
      if (result.ok) return { id, status: 'success', data: new Uint8Array(result.data) };
      if (!result.retryable) return { id, status: 'failure', error: result.error };
      const wait = result.retryAfterMs ?? Math.min(backoff, 5000) * (0.8 + Math.random() * 0.4);
      if (attempt >= 5 || Date.now() + wait >= deadline) return { id, status: 'retryable', error: result.error };
      await new Promise((resolve) => setTimeout(resolve, wait));
      backoff *= 1.5;
    }
  };

  parentPort.on('message', (message: SendMessage) => {
    void send(message).then((outcome) => parentPort.postMessage(outcome));
  });
}

/**
 * The thread's source. Under tsx (the tests, `npm run dev`) the function is compiled with esbuild's keepNames,
 * which wraps inner functions in a `__name(fn, name)` helper defined at module scope, outside the function's
 * text; the thread gets an identity for it. The production bundle is built without keepNames.
 */
const THREAD_SOURCE = `var __name = (fn) => fn;\n(${exportThreadMain.toString()})();`;

/** OpenTelemetry's exporter transport interface, served by the export thread. */
export class ExportThreadTransport implements IExporterTransport {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (response: ExportResponse) => void>();
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly userAgent: string,
  ) {
    this.worker = this.spawn();
  }

  send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (this.closed) return Promise.resolve({ status: 'failure', error: new Error('the exporter is shut down') });
    const worker = (this.worker ??= this.spawn()); // a thread that died is replaced on the next batch
    return new Promise((resolve) => {
      const id = this.nextId++;
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, resolve);
      // The serialized batch is moved to the thread, not copied; nothing on this side reads it again.
      const message: SendMessage = { id, body: data, timeoutMillis };
      worker.postMessage(message, [data.buffer as ArrayBuffer]);
    });
  }

  shutdown(): void {
    this.closed = true;
    void this.worker?.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { url: this.url, headers: this.headers, userAgent: this.userAgent },
      // It holds a batch or two at a time: a small heap keeps the thread's memory small (it is replaced if it
      // ever runs out; the batch it held is lost, as an export that failed).
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    // The thread never keeps the process alive by itself; while a batch is out, its answer does (send above).
    worker.unref();
    worker.on('message', (outcome: Outcome) => this.settle(outcome.id, toResponse(outcome)));
    const lost = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const id of [...this.pending.keys()]) this.settle(id, { status: 'failure', error });
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the export thread exited (${code})`)));
    return worker;
  }

  private settle(id: number, response: ExportResponse): void {
    const resolve = this.pending.get(id);
    if (!resolve) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    resolve(response);
  }
}

function toResponse(outcome: Outcome): ExportResponse {
  if (outcome.status === 'success') return outcome.data ? { status: 'success', data: outcome.data } : { status: 'success' };
  const error = new Error(outcome.error);
  return outcome.status === 'failure' ? { status: 'failure', error } : { status: 'retryable', error };
}
