// JSON logs with pino. The destination is asynchronous (sonic-boom): a log call appends the line to a buffer
// and returns, so a slow stdout never stalls a request. The buffer is written when it holds 4 KiB or every
// 200 ms, whichever comes first — one write per batch of lines instead of one per line. flush() drains it at
// shutdown, and pino's exit hook writes what is left when the process exits.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';
import { isoNow } from '../clock.js';

export type { Logger } from 'pino';

export async function createLogger(config: Config['log'], destination?: DestinationStream): Promise<Logger> {
  // Lines about a request carry its request_id, trace_id and span_id as fields (requestLogFields in
  // src/telemetry/request-hooks.ts); there is no ambient context to read them from.
  const options: pino.LoggerOptions = {
    level: config.level,
    timestamp: () => `,"time":"${isoNow()}"`, // pino's isoTime, formatted once per millisecond
    formatters: { level: (label) => ({ level: label }), log: redactSecrets },
  };
  if (destination) return pino(options, destination);
  if (config.format === 'pretty') {
    // Loaded only when asked for: development output, not needed in production.
    const { default: pretty } = await import('pino-pretty');
    return pino(options, pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(options, stdoutInBatches());
}

/**
 * Standard output through sonic-boom in its buffer mode, each line handed over as its UTF-8 bytes. In its
 * default string mode sonic-boom appends a line to the pending batch string and then measures that string's
 * length in bytes on the next line, which makes V8 copy the whole batch into one flat string again for every
 * line: ~4.8 KB allocated per request line, a quarter of all a get by id allocated (docs/DECISIONS.md,
 * "Logging"). In buffer mode the lines wait as a list of buffers and are joined once per write.
 */
function stdoutInBatches(): DestinationStream {
  const boom = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200, contentMode: 'buffer' });
  return {
    // Looked up on every call: pino's EPIPE handler replaces boom.write with a no-op when stdout is gone.
    write: (line: string) => void boom.write(Buffer.from(line) as unknown as string), // typed for string mode only
    flush: (done: (error?: Error) => void) => boom.flush(done),
  } as DestinationStream;
}

/** Keys whose values never reach a log line, at any depth: credentials, tokens, cookies, API keys. */
const SECRET_KEY = /authorization|cookie|password|secret|token|api[-_]?key/i;
const REDACTED = '[redacted]';

/**
 * Replaces the values of secret-looking keys (see SECRET_KEY) with "[redacted]", up to 4 levels deep. The
 * object is copied only along the paths that hold one; a line without secrets is returned as it came.
 */
export function redactSecrets<T extends Record<string, unknown>>(object: T): T {
  return redactIn(object, 0) as T;
}

function redactIn(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) {
    const items = value as unknown[];
    let copy: unknown[] | undefined;
    items.forEach((item, i) => {
      const redacted = redactIn(item, depth + 1);
      if (redacted !== item) (copy ??= [...items])[i] = redacted;
    });
    return copy ?? items;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const redacted = SECRET_KEY.test(key) ? REDACTED : redactIn(item, depth + 1);
    // A copy with every own property (an Error's message and stack are not enumerable) and the same prototype.
    if (redacted !== item) (copy ??= shallowCopy(value))[key] = redacted;
  }
  return copy ?? value;
}

function shallowCopy(value: object): Record<string, unknown> {
  const copy = Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
  // V8 computes an error's stack through an accessor that reads the original object: keep its text instead.
  if (value instanceof Error) Object.defineProperty(copy, 'stack', { value: value.stack, enumerable: false, writable: true, configurable: true });
  return copy;
}

export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.flush(() => resolve());
  });
}
