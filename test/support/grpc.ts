// Two independent gRPC clients for the tests: Connect's (@connectrpc/connect-node, the gRPC protocol over HTTP/2,
// typed from the generated code) and grpc-js (@grpc/grpc-js, gRPC's reference implementation for Node, which loads
// proto/todo/v1/todo.proto itself through @grpc/proto-loader and shares no code with the server).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { TodoService } from '../../src/grpc/gen/todo/v1/todo_pb.js';

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

export type Protocol = 'grpc' | 'grpc-web' | 'connect';

/** A Connect client of TodoService over one protocol (HTTP/2 for all three: GRPC_PORT is h2c). */
export function connectClient(baseUrl: string, protocol: Protocol = 'grpc'): Client<typeof TodoService> {
  const options = { baseUrl, httpVersion: '2' as const };
  const transport =
    protocol === 'grpc' ? createGrpcTransport(options) : protocol === 'grpc-web' ? createGrpcWebTransport(options) : createConnectTransport(options);
  return createClient(TodoService, transport);
}

/** grpc-js's view of a todo: int64 as a string (proto-loader `longs: String`), timestamps as {seconds, nanos}. */
export interface JsTodo {
  id: string;
  title: string;
  description: string;
  completed: boolean;
  created_at: { seconds: string; nanos: number };
  updated_at: { seconds: string; nanos: number };
}

export interface JsCallOptions {
  metadata?: Record<string, string>;
  /** Milliseconds from now. */
  deadlineMs?: number;
}

/** A grpc-js error: the status code, details and trailing metadata. */
export type JsError = grpc.ServiceError;

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: any) => void) => grpc.ClientUnaryCall;

/** Loads a .proto under proto/ with grpc-js's loader (its own copy of the well-known types). */
export function loadProto(file: string) {
  const definition = protoLoader.loadSync(file, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(definition);
}

/** A grpc-js client of `service` (`grpc.health.v1.Health`) from `file`, typed by the caller as `M`. */
export function jsClient<M>(file: string, service: string, grpcUrl: string): grpc.Client & M {
  const ctor = service.split('.').reduce<unknown>((o, key) => (o as Record<string, unknown>)[key], loadProto(file)) as grpc.ServiceClientConstructor;
  return new ctor(new URL(grpcUrl).host, grpc.credentials.createInsecure()) as grpc.Client & M;
}

export interface JsTodoClient {
  call<T = any>(method: 'CreateTodo' | 'GetTodo' | 'ListTodos' | 'UpdateTodo' | 'DeleteTodo', request: object, options?: JsCallOptions): Promise<T>;
  close(): void;
}

/** A grpc-js client of todo.v1.TodoService, at `http://host:port` (the service's grpcUrl). */
export function grpcJsClient(grpcUrl: string): JsTodoClient {
  const pkg = loadProto('todo/v1/todo.proto') as { todo: { v1: { TodoService: grpc.ServiceClientConstructor } } };
  const client = new pkg.todo.v1.TodoService(new URL(grpcUrl).host, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Unary>;
  return {
    call: (method, request, options = {}) =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
        const callOptions: grpc.CallOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
        client[method]!.call(client, request, metadata, callOptions, (error, response) => (error ? reject(error) : resolve(response)));
      }),
    close: () => client.close(),
  };
}
