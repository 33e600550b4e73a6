// The gRPC listener (GRPC_PORT): an HTTP/2 cleartext server (TLS is the ingress's job) whose requests go to the
// Connect adapter, which speaks gRPC, gRPC-Web and the Connect protocol. The services are listed in
// src/routes.ts (addRpcServices). Closing drains it like the API: health watchers are told NOT_SERVING and end,
// every connection gets a GOAWAY and finishes the calls it has in flight, and what is left after
// SHUTDOWN_TIMEOUT_MS is cut. Calls that Connect refuses before the interceptors run are counted here.
import { createServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Code, createContextValues, type ContextValues } from '@connectrpc/connect';
import { codeFromHttpStatus } from '@connectrpc/connect/protocol-connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { App, AppDeps } from '../deps.js';
import { addRpcServices, readinessOf } from '../routes.js';
import { readiness } from '../ops/probes.js';
import { TODO_BODY_LIMIT } from '../todos/schemas.js';
import { observedKey, peerKey, protocolOf, refusedCall } from './calls.js';
import { codeName } from './errors.js';
import { TodoService } from './gen/todo/v1/todo_pb.js';
import { healthService } from './health.js';

export interface GrpcServer {
  listen(port: number, host: string): Promise<number>;
  /** Tells the health watchers at once that readiness changed (SIGTERM). */
  readinessChanged(): void;
  close(): Promise<void>;
}

/** Concurrent calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); Node's default is unbounded. */
const MAX_CONCURRENT_STREAMS = 100;

export function createGrpcServer(deps: AppDeps, app: App): GrpcServer {
  const { config, logger } = deps;
  const ready = readinessOf(deps);
  const health = healthService(async () => (await readiness(ready)).failed.length === 0, ['', TodoService.typeName]);
  const methods = new Map<string, { service: string; method: string }>();
  const valuesOf = new WeakMap<object, ContextValues>();
  const handler = connectNodeAdapter({
    routes: (router) => {
      addRpcServices(router, deps, { app, health });
      for (const h of router.handlers) methods.set(h.requestPath, { service: h.service.typeName, method: h.method.name });
    },
    // A message larger than the REST body limit is refused (RESOURCE_EXHAUSTED) before it is parsed.
    readMaxBytes: config.bodyLimit ?? TODO_BODY_LIMIT,
    contextValues: (req) => {
      const values = createContextValues().set(peerKey, req.socket.remoteAddress ?? '');
      valuesOf.set(req, values);
      return values;
    },
  });
  const refused = refusedCall(deps);
  /** A call that ends without callTelemetry having seen it was refused by Connect itself: count it all the same. */
  const countIfRefused = (req: Http2ServerRequest, res: Http2ServerResponse, trailers: { status: string | undefined }) => {
    const started = performance.now();
    res.once('close', () => {
      if (valuesOf.get(req)?.get(observedKey)) return;
      const path = (req.url ?? '').split('?', 1)[0]!;
      // No response at all: the client went away before the call got anywhere.
      const code = !res.writableEnded ? Code.Canceled : trailers.status !== undefined ? (Number(trailers.status) as Code) || undefined : codeFromHttpStatus(res.statusCode);
      refused({
        path,
        ...(methods.get(path) ?? { service: undefined, method: undefined }),
        code: codeName(code),
        protocol: protocolOf(req.headers['content-type'] ?? null),
        seconds: (performance.now() - started) / 1000,
        remoteAddr: req.socket?.remoteAddress,
        userAgent: req.headers['user-agent'],
      });
    });
  };
  const server = createServer({ settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, (req, res) => {
    countIfRefused(req, res, encodeGrpcMessageAsSpecified(res));
    handler(req, res);
  });
  if (config.limits.maxConnections > 0) server.maxConnections = config.limits.maxConnections;
  // Small messages go out at once (TCP_NODELAY, as Node's HTTP/1 server and gRPC's own servers set it): Nagle's
  // algorithm would hold a small response back until the previous segment is acknowledged.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  // A client that breaks the protocol loses its connection; the server goes on.
  server.on('sessionError', (error) => logger.debug({ err: error.message }, 'grpc: connection error'));

  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      }),
    readinessChanged: () => health.refresh(),
    async close() {
      health.drain();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      const cut = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, config.shutdownTimeoutMs);
      await closed;
      clearTimeout(cut);
    },
  };
}

/**
 * The status message (`grpc-message`) percent-encoded as the gRPC specification says: only `%` and bytes outside
 * printable ASCII. Connect encodes it as a URI component (`:` → `%3A`), which grpc-js decodes with decodeURI and so
 * shows as is ("The request is not valid%3A title …"); encoded this way every client reads the same message.
 * Returns the `grpc-status` the response ends with, once it is set (for the count of refused calls).
 */
function encodeGrpcMessageAsSpecified(res: Http2ServerResponse): { status: string | undefined } {
  const seen: { status: string | undefined } = { status: undefined };
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (trailers) => {
    const message = trailers['grpc-message'];
    if (typeof message === 'string') trailers['grpc-message'] = percentEncode(safeDecode(message));
    const status = trailers['grpc-status'];
    if (typeof status === 'string') seen.status = status;
    addTrailers(trailers);
  };
  return seen;
}

const safeDecode = (value: string) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const percentEncode = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => (byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
