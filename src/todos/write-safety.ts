// Writes that cannot be lost or doubled. Conditional requests (RFC 9110 §13): every response with one todo
// carries a strong ETag naming its version; If-Match makes PUT/PATCH/DELETE a compare-and-set decided in the
// write's own statement (412 when another write came first), If-None-Match makes GET a 304. Idempotency-Key
// (draft-ietf-httpapi-idempotency-key-header): the first request with a key runs, and its answer is stored in
// the same transaction as its write; a repeat gets that answer, a repeat while the first still runs 409, the
// same key on another request 422. Keys are per owner and expire after IDEMPOTENCY_TTL_SECONDS.
import { createHash } from 'node:crypto';
import { isoNow } from '../clock.js';
import { HttpProblem, ProblemType } from '../http/problem.js';
import type { IdempotencyStore, Receipt, Todo, WriteResult } from './repository.js';

/** The strong ETag of one version of one todo: the same from every replica and backend. */
export const etagOf = (todo: Pick<Todo, 'id' | 'version'>) => `"${todo.id}.${todo.version}"`;

/** Entity tags of an If-Match / If-None-Match list: `*`, or each tag with whether it is weak. */
function entityTags(header: string): '*' | { weak: boolean; tag: string }[] {
  if (header.trim() === '*') return '*';
  return [...header.matchAll(/(W\/)?"([^"]*)"/g)].map((m) => ({ weak: m[1] !== undefined, tag: m[2]! }));
}

export interface WriteSafetyOptions {
  idempotency: IdempotencyStore;
  ttlMs: number;
  /** How long a first request holds its key before a repeat may take over (it can take no longer than this). */
  leaseMs: number;
  /** REQUIRE_IF_MATCH: an unconditional PUT/PATCH/DELETE is a 428. */
  requireIfMatch: boolean;
}

export interface Envelope {
  message: string;
  todo: Todo;
  timestamp: string;
}

/** What write safety reads of a request: a Fastify request, or the REST request a gRPC call stands for. */
export interface WriteRequest {
  headers: { 'if-match'?: string | undefined; 'if-none-match'?: string | undefined; 'idempotency-key'?: string | string[] | undefined };
  method: string;
  url: string;
  body?: unknown;
}

/** Where it puts the status and headers (ETag, Idempotent-Replayed) of its answer: a Fastify reply, or a call's. */
export interface WriteReply {
  code(status: number): WriteReply;
  header(name: string, value: string): WriteReply;
}

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

export function writeSafety({ idempotency, ttlMs, leaseMs, requireIfMatch }: WriteSafetyOptions) {
  return {
    /**
     * The versions If-Match allows for a write of todo `id`: undefined when the header is absent or `*` (any
     * version: a missing todo is a 404 either way), else the versions its strong tags name for this todo (an
     * empty list matches nothing). 428 when REQUIRE_IF_MATCH and no header came.
     */
    ifMatch(req: WriteRequest, id: number): number[] | undefined {
      const header = req.headers['if-match'];
      if (header === undefined) {
        if (requireIfMatch) throw preconditionRequired();
        return undefined;
      }
      const tags = entityTags(header);
      if (tags === '*') return undefined;
      const prefix = `${id}.`;
      // Strong comparison: a weak tag never matches (RFC 9110 §13.1.1).
      return tags.filter((t) => !t.weak && t.tag.startsWith(prefix)).map((t) => Number(t.tag.slice(prefix.length))).filter(Number.isSafeInteger);
    },

    /** If-None-Match on a read: true when the todo still has one of the tags (weak comparison), or for `*`. */
    notModified(req: WriteRequest, todo: Todo): boolean {
      const header = req.headers['if-none-match'];
      if (header === undefined) return false;
      const tags = entityTags(header);
      const current = etagOf(todo).slice(1, -1);
      return tags === '*' || tags.some((t) => t.tag === current);
    },

    /**
     * Runs a write at most once per Idempotency-Key (or always, without one) and answers with its envelope and
     * ETag. `write` gets the receipt to store with the todo; it throws the problem of a write that did not
     * happen, and then the key is given back.
     */
    async once(
      req: WriteRequest,
      reply: WriteReply,
      owner: string,
      status: number,
      message: string,
      write: (receipt: Receipt | undefined) => Promise<Todo>,
    ): Promise<Envelope> {
      const timestamp = isoNow();
      const key = idempotencyKeyOf(req);
      if (key === undefined) return answer(reply, status, { message, todo: await write(undefined), timestamp });

      const claim = await idempotency.claim(owner, key, fingerprintOf(req), leaseMs, ttlMs);
      if ('replay' in claim) {
        reply.header('idempotent-replayed', 'true');
        const { status: stored, ...envelope } = claim.replay;
        return answer(reply, stored, envelope);
      }
      if ('running' in claim) throw inProgress();
      if ('mismatch' in claim) throw keyReused();
      try {
        return answer(reply, status, { message, todo: await write({ owner, key, status, message, timestamp }), timestamp });
      } catch (error) {
        await idempotency.release(owner, key, claim.lease).catch(() => undefined);
        throw error;
      }
    },
  };
}

export type WriteSafety = ReturnType<typeof writeSafety>;

function answer(reply: WriteReply, status: number, envelope: Envelope): Envelope {
  reply.code(status).header('etag', etagOf(envelope.todo));
  return envelope;
}

/** The todo of an update or delete, or the problem of one that did not happen: 404, or 412 with the current ETag. */
export function settled(result: WriteResult, id: number): Todo {
  if ('todo' in result) return result.todo;
  if ('missing' in result) throw new HttpProblem({ status: 404, type: ProblemType.todoNotFound, title: 'Todo not found', detail: `No todo with id ${id}.` });
  throw new HttpProblem({
    status: 412,
    type: ProblemType.preconditionFailed,
    title: 'Precondition failed',
    detail: `Todo ${id} has changed since that version: it is now ${etagOf(result.stale)}. Read it again, then retry.`,
    headers: { etag: etagOf(result.stale) },
  });
}

/** The Idempotency-Key header: an sf-string (`"…"`) or a bare token, 1–255 visible characters; a 400 if not. */
function idempotencyKeyOf(req: WriteRequest): string | undefined {
  const header = req.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const value = typeof header === 'string' ? header.trim().replace(/^"(.*)"$/, '$1') : '';
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw new HttpProblem({
      status: 400,
      type: ProblemType.validation,
      title: 'Invalid request',
      detail: 'The Idempotency-Key header must be 1–255 visible characters (a UUID is a good choice).',
      errors: [{ field: 'headers.idempotency-key', message: 'must be 1–255 visible characters' }],
    });
  }
  return value;
}

/** What makes two requests "the same" for a key: method, path and the body as the handler reads it. */
function fingerprintOf(req: WriteRequest): string {
  const path = req.url.split('?', 1)[0];
  return createHash('sha256').update(`${req.method} ${path}\n${JSON.stringify(req.body ?? null)}`).digest('base64url');
}

const preconditionRequired = () =>
  new HttpProblem({
    status: 428,
    type: ProblemType.preconditionRequired,
    title: 'Precondition required',
    detail: 'This server requires If-Match on PUT, PATCH and DELETE: send the ETag of the todo as you last read it.',
  });

const inProgress = () =>
  new HttpProblem({
    status: 409,
    type: ProblemType.requestInProgress,
    title: 'Request in progress',
    detail: 'A request with this Idempotency-Key is still being processed; retry shortly to get its answer.',
    headers: { 'retry-after': '1' },
  });

const keyReused = () =>
  new HttpProblem({
    status: 422,
    type: ProblemType.idempotencyKeyReused,
    title: 'Idempotency-Key reused',
    detail: 'This Idempotency-Key was used for a different request (another method, path or body); use a new key.',
  });
