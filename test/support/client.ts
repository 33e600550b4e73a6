// A typed client of the API for the tests, from the types openapi-typescript generates out of the document
// (test/support/generated/openapi.d.ts, `npm run openapi:types`). Operations are called by their operationId; the
// method and path come from the document the service serves, as a generated client would take them. A reply
// is a union over the documented statuses, so checking `status` gives the body its documented type.
import assert from 'node:assert/strict';
import type { components, operations } from './generated/openapi.js';
import { http, type Reply } from './helpers.js';
import { documentFor } from './openapi-validator.js';

export type OperationId = keyof operations;
type Responses<O extends OperationId> = operations[O]['responses'];
type BodyOf<R> = R extends { content: infer C } ? C[keyof C] : undefined;

/** The body of one documented response: `ResponseBody<'createTodo', 201>`. */
export type ResponseBody<O extends OperationId, S extends keyof Responses<O>> = BodyOf<Responses<O>[S]>;

/** The JSON request body of an operation (never for operations without one). */
export type RequestBody<O extends OperationId> = operations[O] extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : operations[O] extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B
    : never;

type Parameters<O extends OperationId> = operations[O]['parameters'];
type PathParams<O extends OperationId> = Parameters<O> extends { path: infer P } ? P : never;
type QueryParams<O extends OperationId> = Parameters<O> extends { query?: infer Q } ? Q : never;

/** A reply of an operation: narrowing `status` narrows `body` to that response's schema. */
export type ApiReply<O extends OperationId> = {
  [S in keyof Responses<O>]: Omit<Reply, 'status' | 'body'> & { status: S; body: BodyOf<Responses<O>[S]> };
}[keyof Responses<O>];

export type Todo = ResponseBody<'getTodo', 200>['todo'];
export type TodoPage = ResponseBody<'listTodos', 200>;
export type TodoEnvelope = ResponseBody<'createTodo', 201>;
export type Problem = components['schemas']['Problem'];
export type CreateTodo = RequestBody<'createTodo'>;
export type UpdateTodo = RequestBody<'updateTodo'>;

export interface CallOptions<O extends OperationId> {
  params?: [PathParams<O>] extends [never] ? never : { [K in keyof PathParams<O>]: PathParams<O>[K] | number };
  query?: [QueryParams<O>] extends [never] ? never : QueryParams<O>;
  body?: RequestBody<O>;
  headers?: Record<string, string>;
}

/** Calls an operation of the service at `base` by its operationId. */
export async function call<O extends OperationId>(base: string, operationId: O, options: CallOptions<O> = {}): Promise<ApiReply<O>> {
  const doc = await documentFor(base);
  assert.ok(doc, `${base} serves no OpenAPI document`);
  const op = doc.byId(operationId);
  const params = (options.params ?? {}) as Record<string, string | number>;
  const path = op.template.replace(/\{(\w+)\}/g, (_, name: string) => {
    assert.ok(name in params, `${operationId}: path parameter ${name} is missing`);
    return encodeURIComponent(String(params[name]));
  });
  const query = new URLSearchParams(Object.entries(options.query ?? {})).toString();
  const reply = await http(base, op.method, query ? `${path}?${query}` : path, { body: options.body, headers: options.headers });
  return reply as unknown as ApiReply<O>;
}

/** Calls an operation and asserts the status; returns the body with that response's type. */
export async function expectStatus<O extends OperationId, S extends keyof Responses<O> & number>(
  base: string,
  operationId: O,
  status: S,
  options: CallOptions<O> = {},
): Promise<ResponseBody<O, S>> {
  const reply = await call(base, operationId, options);
  assert.equal(reply.status, status, `${operationId}: expected ${status}, got ${String(reply.status)}: ${reply.text}`);
  return reply.body;
}

/** The client bound to one service: `api.expect('createTodo', 201, { body })`. */
export function client(base: () => string) {
  return {
    call: <O extends OperationId>(operationId: O, options?: CallOptions<O>) => call(base(), operationId, options),
    expect: <O extends OperationId, S extends keyof Responses<O> & number>(operationId: O, status: S, options?: CallOptions<O>) =>
      expectStatus(base(), operationId, status, options),
  };
}
