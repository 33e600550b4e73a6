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
  // src/http/request-telemetry.ts); there is no ambient context to read them from.
  const options: pino.LoggerOptions = {
    level: config.level,
    timestamp: () => `,"time":"${isoNow()}"`, // pino's isoTime, formatted once per millisecond
    formatters: { level: (label) => ({ level: label }) },
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

export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.flush(() => resolve());
  });
}
