// An OTLP/HTTP trace receiver for the tests: collects the spans of export requests, protobuf or JSON (decoded by
// test/support/otlp.mjs, which the benchmark's sink uses too), and answers with chosen statuses.
import { createServer, type Server } from 'node:http';
// @ts-expect-error: plain JavaScript shared with the benchmark, without type declarations
import * as otlp from './otlp.mjs';

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
  events?: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
}

export interface Receiver {
  url: string;
  /** Spans of the batches answered 2xx. */
  spans: OtlpSpan[];
  /** Every export request, in order: the status it was answered with and its spans. */
  batches: { status: number; spans: OtlpSpan[] }[];
  contentTypes: string[];
  close: () => Promise<void>;
}

/**
 * Collects the spans of OTLP/HTTP export requests, protobuf or JSON (test/support/otlp.mjs reads both). `answers` are the statuses of the first export requests
 * (a 503 comes with `Retry-After: 0`); later ones get 200.
 */
const { decodeTraceRequest } = otlp as { decodeTraceRequest: (body: Buffer, contentType: string) => OtlpSpan[] };

export async function otlpReceiver(answers: number[] = []): Promise<Receiver> {
  const spans: OtlpSpan[] = [];
  const batches: Receiver['batches'] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      contentTypes.push(contentType);
      if (req.url !== '/v1/traces') return res.writeHead(404).end();
      let received: OtlpSpan[];
      try {
        received = decodeTraceRequest(Buffer.concat(chunks), contentType);
      } catch (error) {
        batches.push({ status: 400, spans: [] });
        return res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      }
      const status = answers[batches.length] ?? 200;
      batches.push({ status, spans: received });
      if (status < 300) spans.push(...received);
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 503 && { 'retry-after': '0' }) }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, batches, contentTypes, close: () => new Promise((r) => server.close(() => r())) };
}

