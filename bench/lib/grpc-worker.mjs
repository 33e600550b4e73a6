// Child process of lib/load.mjs for the gRPC scenarios (wrk and autocannon speak HTTP/1.1 only): a closed loop of
// `connections` calls in flight, each starting the next as soon as it is answered, for `seconds`, with Connect's
// gRPC client (@connectrpc/connect-node) over HTTP/2 — one connection per 10 calls in flight, as gRPC clients
// multiplex calls on few connections. Prints one JSON line in the shape of the wrk runner's result.
// Argument: a JSON job { url (the gRPC base URL), scenario, params, seconds, connections }.
// The generated service descriptor is TypeScript: Node 24 strips its types (src/grpc/gen has only erasable syntax).
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { TodoService } from '../../src/grpc/gen/todo/v1/todo_pb.ts';

const job = JSON.parse(process.argv[2]);
if (job.scenario !== 'grpc-get') throw new Error(`no gRPC load for scenario ${job.scenario}`);
const { idMin, idMax } = job.params;

const clients = Array.from({ length: Math.ceil(job.connections / 10) }, () => createClient(TodoService, createGrpcTransport({ baseUrl: job.url })));
const latenciesMs = [];
let status = 0;
let socket = 0;

const started = performance.now();
const end = started + job.seconds * 1000;
async function loop(client) {
  while (performance.now() < end) {
    const id = BigInt(idMin + Math.floor(Math.random() * (idMax - idMin + 1)));
    const t0 = performance.now();
    try {
      await client.getTodo({ id }, { timeoutMs: 5000 });
      latenciesMs.push(performance.now() - t0);
    } catch (error) {
      // A status the server chose (NOT_FOUND, RESOURCE_EXHAUSTED, …) is an error status; a broken connection,
      // a refused one or a timeout is a socket error, as wrk counts them.
      if (['unavailable', 'deadline_exceeded', 'canceled', 'unknown'].includes(String(error?.code && codeName(error.code)))) socket++;
      else status++;
      latenciesMs.push(performance.now() - t0);
    }
  }
}
const codeName = (code) => ({ 1: 'canceled', 2: 'unknown', 4: 'deadline_exceeded', 14: 'unavailable' })[code] ?? 'other';

await Promise.all(Array.from({ length: job.connections }, (_, i) => loop(clients[i % clients.length])));
const seconds = (performance.now() - started) / 1000;

latenciesMs.sort((a, b) => a - b);
const at = (q) => (latenciesMs.length ? latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))] : 0);
const round = (ms) => Math.round(ms * 1000) / 1000;
const requests = latenciesMs.length;
process.stdout.write(
  JSON.stringify({
    tool: 'connect-node (gRPC)',
    requests,
    seconds,
    rps: requests / seconds,
    latencyMs: {
      p50: round(at(0.5)),
      p90: round(at(0.9)),
      p99: round(at(0.99)),
      max: round(latenciesMs.at(-1) ?? 0),
      mean: round(latenciesMs.reduce((a, b) => a + b, 0) / Math.max(1, requests)),
    },
    errors: { status, socket, total: status + socket },
  }) + '\n',
);
