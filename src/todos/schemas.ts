// The todo API's contract: one TypeBox schema per route. Each one validates the request, compiles the
// response serializer, types the handler, and feeds the OpenAPI document (src/http/openapi.ts): the
// descriptions here are what the docs page shows.
import Type from 'typebox';
import { problemResponses } from '../http/problem.js';

// Accepted text never holds control characters (tab, LF and CR aside in descriptions) or unpaired UTF-16
// surrogates: what a client stores comes back byte-identical on every backend.
const TITLE_PATTERN = '^(?=[^]*\\S)[^\\p{Cc}\\p{Cs}]*$';
const DESCRIPTION_PATTERN = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F\\p{Cs}]*$';

export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 2000;

/**
 * The body limit of the todo routes. The largest valid body writes every character of the longest title and
 * description as an escaped surrogate pair (`\uD83D\uDE80`: 12 bytes for one character), ~26.5 KB with the
 * members' names; unknown members are ignored, so 32 KiB leaves ~6 KiB for them. BODY_LIMIT_BYTES overrides it.
 */
export const TODO_BODY_LIMIT = 32 * 1024;

const Title = Type.String({
  minLength: 1,
  maxLength: TITLE_MAX,
  pattern: TITLE_PATTERN,
  description: `Trimmed of surrounding whitespace, then 1–${TITLE_MAX} characters; no control characters.`,
  examples: ['Buy milk'],
});
const Description = Type.String({
  maxLength: DESCRIPTION_MAX,
  pattern: DESCRIPTION_PATTERN,
  description: `Up to ${DESCRIPTION_MAX} characters.`,
  examples: ['2 litres, semi-skimmed'],
});

export const TodoSchema = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    title: Type.String(),
    description: Type.String(),
    completed: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    examples: [
      {
        id: 1,
        title: 'Buy milk',
        description: '2 litres, semi-skimmed',
        completed: false,
        created_at: '2026-11-21T21:46:39.177Z',
        updated_at: '2026-11-21T21:46:39.177Z',
      },
    ],
  },
);

const Timestamp = Type.String({ format: 'date-time', description: 'When the response was made.' });

const TodoEnvelope = (description: string) =>
  Type.Object(
    {
      message: Type.String({ description: 'What happened, for humans; its text is not part of the contract.' }),
      todo: TodoSchema,
      timestamp: Timestamp,
    },
    { description },
  );

// Every todo operation reads or writes the database: besides its own problems it may answer 500 (a bug) and
// 503 (PostgreSQL does not answer, or the server sheds load; with Retry-After), and 429 past the rate limit.
const STORAGE_PROBLEMS = [429, 500, 503] as const;
// A write (a DELETE may carry a body too: it is read, bounded, then ignored) can be too large (413), come from a
// browser page of a site CORS does not allow (403), or find the database's disk full (507).
const BODY_PROBLEMS = [403, 413, 507] as const;

// Request headers the write operations read (the document lists them; absent, the Go contract is unchanged).
const IF_MATCH = Type.Optional(
  Type.String({ description: 'Write only if the todo still has this ETag (`"<id>.<version>"`, from an earlier response), else 412. `*`: any version.', examples: ['"7.3"'] }),
);
const IDEMPOTENCY_KEY = Type.Optional(
  Type.String({ minLength: 1, maxLength: 257, description: 'A unique key (a UUID) for this write: a retry with the same key and body gets the first answer instead of writing again.', examples: ['"3f0e4c2a-8d0b-4f5e-9a51-1d2b7b6c4e10"'] }),
);
const WriteHeaders = Type.Object({ 'if-match': IF_MATCH, 'idempotency-key': IDEMPOTENCY_KEY });
const CreateHeaders = Type.Object({ 'idempotency-key': IDEMPOTENCY_KEY });
const ReadHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'Answer 304 without a body if the todo still has this ETag.', examples: ['"7.3"'] })),
});

/** The ETag response header of every response with one todo. */
const ETAG_HEADER = { etag: { type: 'string', description: 'The todo\'s version: `"<id>.<version>"`, the same from every replica.', examples: ['"7.3"'] } };
const withETag = <T extends object>(schema: T) => ({ ...schema, headers: ETAG_HEADER });

// 409/422: an Idempotency-Key still in progress or reused; 412/428: If-Match failed or required.
const IDEMPOTENCY_PROBLEMS = [409, 422] as const;
const CONDITIONAL_PROBLEMS = [412, 428] as const;

const IdParams = Type.Object({
  id: Type.String({ pattern: '^[+-]?[0-9]+$', description: 'The todo id (a non-zero integer within ±(2^53 − 1)).', examples: ['1'] }),
});

// Query values are strings, read as the Go reference reads them: an unparsable page or limit falls back to
// the default instead of failing.
export const ListTodosRoute = {
  operationId: 'listTodos',
  summary: 'List todos, a page at a time',
  tags: ['todos'],
  description:
    'Todos in ascending id order, `limit` per page (10 by default, at most 100), optionally only completed or only ' +
    'open ones. `page` and `limit` are read like the Go reference reads them: values that are not numbers or out ' +
    'of range fall back to the defaults instead of failing. A page past the end is an empty list.',
  querystring: Type.Object({
    page: Type.Optional(Type.String({ description: 'Page number from 1; below 1 or not a number → 1.', examples: ['1'] })),
    limit: Type.Optional(Type.String({ description: 'Page size 1–100; outside that or not a number → 10.', examples: ['10'] })),
    completed: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'Only completed (`true`) or open (`false`) todos.' })),
  }),
  response: {
    200: Type.Object(
      {
        todos: Type.Array(TodoSchema),
        pagination: Type.Object({
          current_page: Type.Integer({ description: 'The page served (1 when `page` was missing or invalid).' }),
          total_items: Type.Integer({ description: 'Todos matching the filter, over all pages.' }),
          items_per_page: Type.Integer({ description: 'The page size used (10 when `limit` was missing or invalid).' }),
        }),
        timestamp: Timestamp,
      },
      { description: 'One page of todos and the totals of the filter.' },
    ),
    ...problemResponses(400, ...STORAGE_PROBLEMS),
  },
};

export const GetTodoRoute = {
  operationId: 'getTodo',
  summary: 'Get one todo',
  tags: ['todos'],
  description: 'The todo with this id. An id of 0 or one that is not an integer is a 400; an unknown id is a 404.',
  params: IdParams,
  headers: ReadHeaders,
  response: {
    200: withETag(Type.Object({ todo: TodoSchema, timestamp: Timestamp }, { description: 'The todo.' })),
    304: { description: 'Not modified: the todo still has the ETag If-None-Match names (no body).', headers: ETAG_HEADER },
    ...problemResponses(400, 404, ...STORAGE_PROBLEMS),
  },
};

export const CreateTodoRoute = {
  operationId: 'createTodo',
  summary: 'Create a todo',
  tags: ['todos'],
  description: 'The body is read as JSON whatever its Content-Type. Unknown fields are ignored: `id`, `completed` and the timestamps are set by the server.',
  body: Type.Object(
    {
      title: Title,
      description: Type.Optional(Type.Union([Description, Type.Null()])),
    },
    { examples: [{ title: 'Buy milk', description: '2 litres, semi-skimmed' }] },
  ),
  headers: CreateHeaders,
  response: {
    201: withETag(TodoEnvelope('Created: the new todo, with the id the database gave it (or, for a repeated Idempotency-Key, the first answer, with `Idempotent-Replayed: true`).')),
    ...problemResponses(400, ...BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS, ...STORAGE_PROBLEMS),
  },
};

const UpdateBody = Type.Object(
  {
    title: Type.Optional(Type.Union([Type.Literal(''), Title, Type.Null()], { description: 'New title; empty or null keeps the current one.' })),
    description: Type.Optional(Type.Union([Description, Type.Null()], { description: 'New description; empty or null keeps the current one.' })),
    completed: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'Set when present; null or absent keeps it.' })),
  },
  { examples: [{ completed: true }, { title: 'Buy oat milk' }] },
);

export const UpdateTodoRoute = {
  operationId: 'updateTodo',
  summary: 'Update a todo (fields left out or empty keep their value)',
  tags: ['todos'],
  description:
    "A partial update with the Go reference's rules: a missing, `null` or empty `title` or `description` keeps " +
    'the stored value; `completed` changes only when present. `{}` is a valid update that only touches ' +
    '`updated_at`. A title that is blank but not empty is a 400. The body is read as JSON whatever its ' +
    'Content-Type; unknown fields are ignored.',
  params: IdParams,
  headers: WriteHeaders,
  body: UpdateBody,
  response: {
    200: withETag(TodoEnvelope('Updated: the todo as stored now.')),
    ...problemResponses(400, 404, ...BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS, ...CONDITIONAL_PROBLEMS, ...STORAGE_PROBLEMS),
  },
};

export const DeleteTodoRoute = {
  operationId: 'deleteTodo',
  summary: 'Delete a todo, returning it',
  tags: ['todos'],
  description: 'Deletes the todo and answers with it as it was. Ids are never reused.',
  params: IdParams,
  headers: WriteHeaders,
  response: {
    200: withETag(TodoEnvelope('Deleted: the todo as it was before.')),
    ...problemResponses(400, 404, ...BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS, ...CONDITIONAL_PROBLEMS, ...STORAGE_PROBLEMS),
  },
};
