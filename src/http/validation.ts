// What a schema's refusal says to a client: the 400 problem of a request that breaks the contract, one entry per
// failing field. Fastify's validation errors (Ajv) and TypeBox's (the gRPC service checks its requests against
// the same schemas: src/grpc/todo-service.ts) have the same shape, so both answer alike.
import { ProblemType, type ProblemInit } from './problem.js';

/** One failure of a JSON Schema check, as Ajv and TypeBox report it. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: unknown;
  message?: string | undefined;
}

/** `context` prefixes each field (`body`, `querystring`); the gRPC service names fields as its messages do. */
export function fieldErrors(context: string | undefined, errors: Iterable<SchemaError>): { field: string; message: string }[] {
  return [...errors].map((v) => {
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    const field = [context, ...v.instancePath.split('/').filter(Boolean), missing].filter(Boolean).join('.');
    // A regular expression means nothing to a client: say what the pattern forbids instead.
    const message = v.keyword === 'pattern' ? 'contains characters that are not allowed (control characters, or blank)' : (v.message ?? 'is invalid');
    return { field, message };
  });
}

export function invalidRequest(errors: { field: string; message: string }[]): ProblemInit {
  return {
    status: 400,
    type: ProblemType.validation,
    title: 'Invalid request',
    detail: `The request is not valid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}.`,
    errors,
  };
}
