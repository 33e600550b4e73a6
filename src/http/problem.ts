// RFC 9457 problem details. Every 4xx/5xx body of the service is built here. Besides the standard members it
// carries the Go reference's `error` (a human message) and `timestamp`, so clients of that API keep working.
import Type, { type Static } from 'typebox';
import { isoNow } from '../clock.js';

/** Problem type URIs. `about:blank` means "nothing beyond the HTTP status"; the others name our own cases. */
export const ProblemType = {
  blank: 'about:blank',
  validation: 'urn:todo-service:problem:validation-error',
  invalidJson: 'urn:todo-service:problem:invalid-json',
  invalidId: 'urn:todo-service:problem:invalid-id',
  todoNotFound: 'urn:todo-service:problem:todo-not-found',
  notReady: 'urn:todo-service:problem:not-ready',
  unavailable: 'urn:todo-service:problem:storage-unavailable',
  storageFull: 'urn:todo-service:problem:storage-full',
  overloaded: 'urn:todo-service:problem:overloaded',
  rateLimited: 'urn:todo-service:problem:rate-limited',
  crossSite: 'urn:todo-service:problem:cross-site-request',
  preconditionFailed: 'urn:todo-service:problem:precondition-failed',
  preconditionRequired: 'urn:todo-service:problem:precondition-required',
  requestInProgress: 'urn:todo-service:problem:request-in-progress',
  idempotencyKeyReused: 'urn:todo-service:problem:idempotency-key-reused',
  unauthorized: 'urn:todo-service:problem:unauthorized',
  insufficientScope: 'urn:todo-service:problem:insufficient-scope',
} as const;

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'Problem type URI; `about:blank` when the status says it all.' }),
    title: Type.String({ description: 'Short summary of the problem type.' }),
    status: Type.Integer({ description: 'The HTTP status code.' }),
    detail: Type.String({ description: 'What went wrong with this request.' }),
    instance: Type.String({ description: 'The request path this problem is about.' }),
    error: Type.String({ description: 'Same as `detail`: the Go reference\'s error member.' }),
    timestamp: Type.String({ format: 'date-time' }),
    request_id: Type.String({ description: 'The request id, also in the `X-Request-Id` header.' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({ field: Type.String(), message: Type.String() }),
        { description: 'For validation errors: each failing field.' },
      ),
    ),
  },
  { additionalProperties: true },
);

export type Problem = Static<typeof ProblemSchema>;

export interface ProblemInit {
  status: number;
  type?: string;
  title?: string;
  detail: string;
  errors?: { field: string; message: string }[];
  /** Response headers that go with it (`WWW-Authenticate`, `Retry-After`). */
  headers?: Record<string, string>;
}

/** An error that becomes a problem response with its own status and message. */
export class HttpProblem extends Error {
  constructor(readonly init: ProblemInit) {
    super(init.detail);
    this.name = 'HttpProblem';
  }
}

export const invalidId = () =>
  new HttpProblem({ status: 400, type: ProblemType.invalidId, title: 'Invalid id', detail: 'The todo id must be a non-zero integer.' });

export const todoNotFound = (id: number) =>
  new HttpProblem({ status: 404, type: ProblemType.todoNotFound, title: 'Todo not found', detail: `No todo with id ${id}.` });

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

export function problemBody(init: ProblemInit, instance: string, requestId: string): Problem {
  const body: Problem = {
    type: init.type ?? ProblemType.blank,
    title: init.title ?? statusTitle(init.status),
    status: init.status,
    detail: init.detail,
    instance,
    error: init.detail,
    timestamp: isoNow(),
    request_id: requestId,
  };
  if (init.errors) body.errors = init.errors;
  return body;
}

/** The media type of every problem body (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** The `$id` of the Problem schema shared by every route (added by src/http/openapi.ts), and a reference to it. */
export const PROBLEM_SCHEMA_ID = 'Problem';
const problemRef = { $ref: `${PROBLEM_SCHEMA_ID}#` };

/** What each problem status means on an operation of this API: the response descriptions of the document. */
const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400:
    'The request breaks the contract. `type` says how: `urn:todo-service:problem:validation-error` (the body or ' +
    'query; `errors` lists each field), `urn:todo-service:problem:invalid-json` (the body is not JSON) or ' +
    '`urn:todo-service:problem:invalid-id` (the id is 0, not an integer, or beyond ±2^53).',
  401:
    'No valid credentials: the `Authorization: Bearer` token (an access token or an API key) is missing, malformed, ' +
    'expired, revoked or not for this API (`urn:todo-service:problem:unauthorized`; `WWW-Authenticate` says why).',
  403:
    'The token lacks the scope this operation needs (`urn:todo-service:problem:insufficient-scope`: `todos:read` for ' +
    'reads, `todos:write` for writes), or a write came from a browser page of a site `CORS_ORIGINS` does not allow ' +
    '(`urn:todo-service:problem:cross-site-request`). Nothing was changed.',
  404: 'No todo with that id (`urn:todo-service:problem:todo-not-found`).',
  409:
    'A request with the same `Idempotency-Key` is still being processed (`urn:todo-service:problem:request-in-progress`); ' +
    'retry after `Retry-After` seconds to get its answer.',
  412:
    'The todo changed since the version `If-Match` names (`urn:todo-service:problem:precondition-failed`): nothing was ' +
    'written; the `ETag` header is the current version. Read it again, then retry.',
  422:
    'This `Idempotency-Key` was used for a different request (method, path or body; ' +
    '`urn:todo-service:problem:idempotency-key-reused`).',
  428: 'The server requires `If-Match` on this write (`REQUIRE_IF_MATCH=true`; `urn:todo-service:problem:precondition-required`).',
  413: 'The body is larger than the limit: a few KiB above the largest valid todo body (32 KiB), or `BODY_LIMIT_BYTES`.',
  429:
    'This client sent more than `RATE_LIMIT_MAX` requests in `RATE_LIMIT_WINDOW_MS` ' +
    '(`urn:todo-service:problem:rate-limited`). Retry after `Retry-After` seconds.',
  500: 'An unexpected error. The body names no internals; the log line with the same `request_id` has the details.',
  507:
    'The database has no disk space left (`urn:todo-service:problem:storage-full`): nothing was written; reads go on. ' +
    'Retry after `Retry-After` seconds.',
  503:
    'The database does not answer right now (PostgreSQL down or too slow; `urn:todo-service:problem:storage-unavailable`), ' +
    'or the server is overloaded (`urn:todo-service:problem:overloaded`). Retry after `Retry-After` seconds.',
};

const RETRY_AFTER = {
  'retry-after': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying.', examples: [1] },
};

/** The rate-limit headers (draft-ietf-httpapi-ratelimit-headers) on every rate-limited response. */
const RATE_LIMIT_HEADERS = {
  'ratelimit-limit': { type: 'integer', description: 'Requests allowed per window.' },
  'ratelimit-remaining': { type: 'integer', description: 'Requests left in this window.' },
  'ratelimit-reset': { type: 'integer', description: 'Seconds until the window resets.' },
};

const WWW_AUTHENTICATE = {
  'www-authenticate': { type: 'string', description: 'The RFC 6750 Bearer challenge: `error` and `error_description` say why.' },
};

const RETRY_LATER = { 'retry-after': { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying.', examples: [30] } };

const ETAG = { etag: { type: 'string', description: 'The current version of the todo.', examples: ['"7.3"'] } };

const HEADERS_OF: Record<number, Record<string, unknown>> = {
  401: WWW_AUTHENTICATE,
  409: RETRY_AFTER,
  412: ETAG,
  507: RETRY_LATER,
  429: { ...RETRY_AFTER, ...RATE_LIMIT_HEADERS },
  503: RETRY_AFTER,
};

/**
 * Responses for the listed problem statuses, for a route's `response` map: each one an
 * `application/problem+json` body referencing the shared Problem schema, with what the status means here.
 * The type stays the Problem shape, so handler reply types are unchanged.
 */
export function problemResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: PROBLEM_DESCRIPTIONS[s] ?? statusTitle(s),
        ...(HEADERS_OF[s] ? { headers: HEADERS_OF[s] } : {}),
        content: { [PROBLEM_MEDIA_TYPE]: { schema: problemRef } },
      },
    ]),
  ) as unknown as { [K in S[number]]: typeof ProblemSchema };
}
