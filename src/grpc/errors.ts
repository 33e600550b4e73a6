// Everything a call can fail with, as a gRPC status: the one place where the REST problems (src/http/problem.ts)
// become status codes. The message is the problem's `detail`; its headers (`www-authenticate`, `retry-after`)
// travel as metadata. Anything else is INTERNAL with no internals in the message (the log line has them).
import { Code, ConnectError } from '@connectrpc/connect';
import { HttpProblem } from '../http/problem.js';
import { StorageFullError, StorageUnavailableError } from '../storage/errors.js';

/** REST status → gRPC code (the README's gRPC section lists the same). */
const CODE_OF_STATUS: Record<number, Code> = {
  400: Code.InvalidArgument,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.NotFound,
  // The same Idempotency-Key is still being processed: retry shortly (the retry gets the first call's answer).
  409: Code.Aborted,
  // If-Match names a version the todo no longer has (the current ETag is in the metadata), or REQUIRE_IF_MATCH.
  412: Code.FailedPrecondition,
  428: Code.FailedPrecondition,
  413: Code.ResourceExhausted,
  // The Idempotency-Key already stands for another request.
  422: Code.AlreadyExists,
  429: Code.ResourceExhausted,
  503: Code.Unavailable,
  504: Code.DeadlineExceeded,
  507: Code.ResourceExhausted,
};

/** The gRPC code for a REST status; other 4xx are INVALID_ARGUMENT (or FAILED_PRECONDITION), other 5xx INTERNAL. */
export function codeOfStatus(status: number): Code {
  return CODE_OF_STATUS[status] ?? (status < 500 ? Code.InvalidArgument : Code.Internal);
}

/** Whether the server, not the caller, failed: logged as an error and marks the span failed (REST's 5xx). */
export function isServerFault(code: Code | undefined, cause?: unknown): boolean {
  return code === Code.Internal || code === Code.Unknown || code === Code.Unavailable || code === Code.DataLoss || cause instanceof StorageFullError;
}

/** Any error thrown while handling a call, as the ConnectError the client gets. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof HttpProblem) {
    const { status, detail, headers } = error.init;
    return new ConnectError(detail, codeOfStatus(status), headers);
  }
  if (error instanceof StorageUnavailableError) {
    return new ConnectError('The database is unavailable right now; retry shortly.', Code.Unavailable, { 'retry-after': '1' });
  }
  if (error instanceof StorageFullError) {
    return new ConnectError('The database has no disk space left for this write; nothing was stored. Reads still work; retry later.', Code.ResourceExhausted, {
      'retry-after': '30',
    });
  }
  return new ConnectError('The server could not handle the call. It has been logged.', Code.Internal);
}

/** The canonical name of a code as gRPC writes it (`NOT_FOUND`): the metrics' and the log's `code`. */
export function codeName(code: Code | undefined): string {
  if (code === undefined) return 'OK';
  return Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase();
}
