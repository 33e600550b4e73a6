// Fuzzing from the OpenAPI document: fast-check generates requests for the document's operations, valid ones
// (values drawn from the operations' JSON schemas) and mutations of them, and sends them to a real server.
// Used by test/api/fuzz.test.ts (a short run in the suite, a long one with `npm run fuzz`).
//
// Properties, checked on every response:
// - no status ≥ 500;
// - every 4xx is application/problem+json with the problem members, `status` equal to the HTTP status and
//   `request_id` equal to X-Request-Id; a 405 carries Allow;
// - every response matches the document (test/support/openapi-validator.ts: status, content type, schema);
// - what was accepted comes back byte-identical: after each 201/200 write the todo is read back and compared
//   with a model of the rules (titles trimmed, empty/null keep the stored value on update, ...); after a
//   delete the todo is gone.
// And at the end: the server still answers /livez, and its heap after a full GC has not grown (fuzz.test.ts).
//
// Differential mode (a `reference` given, see test/support/fuzz-differential.ts): every case also goes to the Go
// reference, right after us, and the status classes of the two answers must agree but for the listed
// deviations. Both servers are brought to the same state first (no todos, the same next id) and kept there:
// a todo only one side created is deleted again (the other side creates and deletes a filler, so the id
// counters stay equal), a todo only one side deleted is deleted on the other. So a raw id such as `00003`
// names the same todo on both sides, and a todo the fuzzer created is addressed by its index on each side.
import assert from 'node:assert/strict';
import { Agent, METHODS, request, type OutgoingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { BODY_LIMIT, describeExchange, judge, statusClass, type Exchange } from './fuzz-differential.js';
import { checkExchange, mediaTypeOf, splitTarget, type OpenApiDocument, type Operation } from './openapi-validator.js';

type Json = Record<string, unknown>;

// ---- what a generated request is ------------------------------------------------------------------------------

/** An id in a path: one the fuzzer created earlier (by index, resolved when sent), or any text. */
type IdSpec = { known: number } | { raw: string };

export interface FuzzCase {
  /** What was generated: `valid`, or the mutation applied (`body:wrong-type`, `path:traversal`...). */
  kind: string;
  operationId: string;
  method: string;
  /** The path template with `{id}` still in it, or a literal path. */
  path: string;
  id?: IdSpec;
  query: string;
  headers: Record<string, string>;
  /** The body as sent: JSON text, any text, or bytes. */
  body?: string | Buffer;
}

// ---- values -------------------------------------------------------------------------------------------------------

const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE todos; --",
  "1' UNION SELECT name, sql FROM sqlite_master --",
  "'||(SELECT version())||'",
  '1; SELECT pg_sleep(10)',
  '" OR ""="',
  "admin'--",
  '{"$gt": ""}',
  '{"$where": "sleep(1000)"}',
  '{{7*7}}',
  '${7*7}',
  '<%= 7*7 %>',
  '#{7*7}',
  '{{constructor.constructor("return process")()}}',
  '$(id)',
  '`id`',
  '; cat /etc/passwd',
  '| nc 127.0.0.1 9 -e /bin/sh',
  '&& shutdown -h now',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%s%s%s%n%x',
  '","completed":true,"id":1,"x":"',
  'null',
  'undefined',
  'NaN',
  '__proto__',
  'constructor',
  '\\u0000',
];
const UNICODE = ['🚀', '👩‍👩‍👧', 'e\u0301', 'ﷺ', '\u202Eevil', '\u200B', '\uFEFF', '\u2028', '\u2029', 'Ω', '漢字', 'ñandú', '\u{10FFFF}', 'İ', 'ß', 'ﬀ', '\u00A0', '\u3000', 'ٹ', '\u{E0001}'];
const CONTROLS = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u000B', '\f', '\u001B', '\u007F', '\u0085', '\u009F'];
const LONE_SURROGATES = ['\uD800', '\uDFFF', '\uDBFF', 'a\uDC00b'];
/**
 * Names that mean something on every JavaScript object: as path segments, query keys and JSON keys they probe
 * for lookups in plain objects (`table[key]` finding Object.prototype's members) and prototype pollution.
 */
export const PROTO_KEYS = ['constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'] as const;

const stringUnit = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), weight: 6 },
  { arbitrary: fc.constantFrom(...UNICODE), weight: 2 },
  { arbitrary: fc.constantFrom(' ', '  ', '\t'), weight: 1 },
);

/** Any text, weighted toward what breaks things. */
const nastyString = fc.oneof(
  { arbitrary: fc.constantFrom(...INJECTIONS), weight: 4 },
  { arbitrary: fc.constantFrom(...UNICODE), weight: 2 },
  { arbitrary: fc.constantFrom(...CONTROLS).map((c) => `before${c}after`), weight: 2 },
  { arbitrary: fc.constantFrom(...LONE_SURROGATES), weight: 1 },
  { arbitrary: fc.constantFrom('', ' ', '   ', '\t\n'), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.integer({ min: 150, max: 5000 }).map((n) => 'x'.repeat(n)), weight: 1 },
  { arbitrary: fc.integer({ min: 190, max: 210 }).map((n) => '🚀'.repeat(n)), weight: 1 },
);

const wrongTypeValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.constantFrom<unknown>({ $gt: '' }, { $ne: null }, { $where: '1' }, {}, [], [[]], { title: 'nested' }),
  fc.constantFrom<unknown>(1e308, -0, Number.MAX_SAFE_INTEGER + 2),
);

// ---- values from the document's schemas -----------------------------------------------------------------

/** An arbitrary of values valid for a JSON schema of the document (the subset @fastify/swagger produces). */
function fromSchema(schema: Json): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Json[]).map(fromSchema));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  switch (schema.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: (schema.minimum as number | undefined) ?? -1e6, max: (schema.maximum as number | undefined) ?? 1e6 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'string':
      return stringFromSchema(schema);
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Json>;
      const required = new Set((schema.required ?? []) as string[]);
      const model = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, fromSchema(v)]));
      return fc.record(model, { requiredKeys: [...required].filter((k) => k in model) });
    }
    case 'array':
      return fc.array(fromSchema((schema.items ?? {}) as Json), { maxLength: 3 });
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function stringFromSchema(schema: Json): fc.Arbitrary<string> {
  const min = (schema.minLength as number | undefined) ?? 0;
  const max = (schema.maxLength as number | undefined) ?? 50;
  const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern, 'u') : undefined;
  const length = (s: string) => [...s].length;
  // Mostly short strings; now and then one at the maximum length.
  const short = fc.array(stringUnit, { minLength: Math.min(min, 1), maxLength: Math.min(max, 12) }).map((parts) => parts.join(''));
  const atLimit = fc.constantFrom('a', 'é', '漢', '🚀').map((c) => c.repeat(max));
  return fc
    .oneof({ arbitrary: short, weight: 9 }, { arbitrary: atLimit, weight: max < 10_000 ? 1 : 0 })
    .map((s) => (length(s) > max ? [...s].slice(0, max).join('') : s))
    .filter((s) => length(s) >= min && (!pattern || pattern.test(s)));
}

// ---- requests -----------------------------------------------------------------------------------------------------

const requestBodySchema = (op: Operation) => op.object.requestBody?.content?.['application/json']?.schema as Json | undefined;
const pathIdSchema = (op: Operation) => op.object.parameters?.find((p) => p.in === 'path' && p.name === 'id')?.schema;

const validId: fc.Arbitrary<IdSpec> = fc.oneof(
  { arbitrary: fc.nat({ max: 1_000 }).map((known) => ({ known })), weight: 8 },
  { arbitrary: fc.stringMatching(/^[+-]?[0-9]{1,12}$/).map((raw) => ({ raw })), weight: 2 },
);

/** A request the document allows, for one operation. */
function validCase(op: Operation): fc.Arbitrary<FuzzCase> {
  const bodySchema = requestBodySchema(op);
  const queryParams = (op.object.parameters ?? []).filter((p) => p.in === 'query');
  const query = fc
    .tuple(
      ...queryParams.map((p) =>
        fc.option(fromSchema(p.schema ?? { type: 'string' }).map((v) => `${encodeURIComponent(p.name)}=${encodeURIComponent(String(v))}`), { nil: undefined }),
      ),
    )
    .map((parts) => parts.filter((p) => p !== undefined).join('&'));
  return fc.record({
    kind: fc.constant('valid'),
    operationId: fc.constant(op.operationId),
    method: fc.constant(op.method),
    path: fc.constant(op.template),
    id: pathIdSchema(op) ? validId : fc.constant(undefined),
    query,
    headers: fc.constant<Record<string, string>>(bodySchema ? { 'content-type': 'application/json' } : {}),
    body: bodySchema ? fromSchema(bodySchema).map((b) => JSON.stringify(b)) : fc.constant(undefined),
  }).map(({ id, body, ...rest }): FuzzCase => ({ ...rest, ...(id === undefined ? {} : { id }), ...(body === undefined ? {} : { body }) }));
}

/** The body of a case as an object to mutate ({} when it is not one, or too deep to write back as JSON). */
const objectBody = (c: FuzzCase): Json => {
  try {
    const parsed: unknown = typeof c.body === 'string' ? JSON.parse(c.body) : {};
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    JSON.stringify(parsed);
    return parsed as Json;
  } catch {
    return {};
  }
};

const FIELDS = ['title', 'description', 'completed'];

/** The case's body as a JSON object with one more member (written as JSON text), first or last. */
function withMember(c: FuzzCase, member: string, first: boolean): string {
  const text = JSON.stringify(objectBody(c));
  if (text === '{}') return `{${member}}`;
  return first ? `{${member},${text.slice(1)}` : `${text.slice(0, -1)},${member}}`;
}

/** A JSON key, plain or with its underscores escaped (`"\u005f\u005fproto\u005f\u005f"` is `__proto__` too). */
const jsonKey = (key: string, escaped: boolean) => (escaped ? `"${key.replace(/_/g, '\\u005f')}"` : JSON.stringify(key));

const PROTO_PATH_PREFIXES = ['/', '/api/', '/api/todos/', '/api/todos/1/', '/health/', '/metrics/', '/openapi.json/', '/docs/', '/docs/static/'];

/** One mutation of a valid request: a name and a function from the case to the mutated case. */
const mutations: fc.Arbitrary<[string, (c: FuzzCase) => FuzzCase]>[] = [
  fc
    .tuple(
      fc.array(fc.constantFrom(...PROTO_KEYS), { minLength: 1, maxLength: 3 }),
      fc.constantFrom('{"title":"x"}', '{"completed":true}', '{"polluted":true}', '{"title":"x","completed":true}', '"x"', '1', 'null', 'true', '{}', '[]'),
      fc.constantFrom('first', 'last', 'under-a-field'),
      fc.constantFrom(...FIELDS),
      fc.boolean(),
    )
    .map(([keys, leaf, where, field, escaped]) => [
      'body:proto-keys',
      (c) => {
        const nested = keys.slice(1).reduceRight<string>((inner, k) => `{${jsonKey(k, escaped)}:${inner}}`, leaf);
        const member = `${jsonKey(keys[0]!, escaped)}:${nested}`;
        return { ...c, body: where === 'under-a-field' ? withMember(c, `${JSON.stringify(field)}:{${member}}`, false) : withMember(c, member, where === 'first') };
      },
    ]),
  fc
    .array(
      fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.constantFrom(...PROTO_KEYS), fc.constantFrom('plain', 'bracket', 'array', 'dot', 'empty', 'encoded')).map(([k, k2, form]) => {
        switch (form) {
          case 'plain':
            return `${k}=1`;
          case 'bracket':
            return `${k}[${k2}]=x`;
          case 'array':
            return `${k}[]=1`;
          case 'dot':
            return `${k}.${k2}=x`;
          case 'empty':
            return `${k}=`;
          default:
            return `${k.replace(/_/g, '%5F')}=1`;
        }
      }),
      { minLength: 1, maxLength: 3 },
    )
    .map((parts) => ['query:proto-keys', (c) => ({ ...c, query: [c.query, ...parts].filter(Boolean).join('&') })]),
  fc
    .tuple(fc.constantFrom(...PROTO_PATH_PREFIXES), fc.constantFrom(...PROTO_KEYS), fc.option(fc.constantFrom(...PROTO_KEYS), { nil: undefined }))
    .map(([prefix, key, sub]) => ['path:proto-keys', (c) => ({ ...c, path: `${prefix}${key}${sub === undefined ? '' : `/${sub}`}`, operationId: 'none' })]),
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain').map((type) => [
    'body:none',
    // No body at all, but a Content-Type (many client wrappers send one on every request).
    (c): FuzzCase => {
      const { body: _dropped, ...rest } = c;
      return { ...rest, headers: { ...c.headers, 'content-type': type } };
    },
  ]),
  fc.tuple(fc.constantFrom(...FIELDS), wrongTypeValue).map(([field, value]) => [
    'body:wrong-type',
    (c) => ({ ...c, body: JSON.stringify({ ...objectBody(c), [field]: value }) }),
  ]),
  fc.constantFrom(...FIELDS).map((field) => [
    'body:missing-field',
    (c) => {
      const body = objectBody(c);
      delete body[field];
      return { ...c, body: JSON.stringify(body) };
    },
  ]),
  fc.dictionary(fc.constantFrom('id', 'completed', 'created_at', 'updated_at', 'owner', 'isAdmin', '$where', 'toString', 'hasOwnProperty', 'x'.repeat(300)), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 }).map((extra) => [
    'body:extra-fields',
    (c) => ({ ...c, body: JSON.stringify({ ...extra, ...objectBody(c) }) }),
  ]),
  fc.tuple(fc.constantFrom('title', 'description'), nastyString).map(([field, value]) => [
    'body:nasty-string',
    (c) => ({ ...c, body: JSON.stringify({ ...objectBody(c), [field]: value }) }),
  ]),
  fc.tuple(fc.constantFrom('title', 'description'), fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 })).map(([field, a, b]) => [
    'body:unicode-and-controls',
    (c) => ({ ...c, body: JSON.stringify({ ...objectBody(c), [field]: `${a}${b}` }) }),
  ]),
  fc.tuple(fc.constantFrom('title', 'description'), fc.string({ unit: stringUnit, minLength: 1, maxLength: 20 }), fc.constantFrom(' ', '\t', '\n', '\u00A0', '\u3000', '\uFEFF', '\u2028')).map(([field, text, pad]) => [
    'body:padded',
    (c) => ({ ...c, body: JSON.stringify({ ...objectBody(c), [field]: `${pad}${text}${pad}` }) }),
  ]),
  fc.constantFrom(
    '',
    '{',
    '{"title":',
    '{"title": "x"',
    '{title: "x"}',
    "{'title': 'x'}",
    'title=x&description=y',
    '[]',
    '[{"title":"x"}]',
    '"just a string"',
    '42',
    'true',
    'null',
    '{"title":"x","__proto__":{"polluted":true}}',
    '{"title":"x","constructor":{"prototype":{"polluted":true}}}',
    '{"title":"a","title":"b"}',
    '{"completed":"x","completed":true}',
    '{"Title":"x"}',
    '{"title":"x","TITLE":"   ","Completed":"yes"}',
    '{"title":"x"} ',
    '\uFEFF{"title":"with a BOM"}',
    '{"title":"\\ud800"}',
    '{"title":"\\u0000"}',
    '{"title":"x"}garbage',
    '{"title":"x"}{"title":"y"}',
    '<?xml version="1.0"?><todo><title>x</title></todo>',
    '{"title":1e999}',
    '{"title":"x","description":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    '['.repeat(100_000),
  ).map((raw) => ['body:raw', (c) => ({ ...c, body: raw })]),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => [
    'body:bytes',
    (c) => ({ ...c, body: Buffer.concat([Buffer.from('{"title":"'), Buffer.from(bytes), Buffer.from('"}')]) }),
  ]),
  fc.integer({ min: BODY_LIMIT - 64, max: BODY_LIMIT + 4096 }).map((size) => [
    'body:around-the-limit',
    (c) => ({ ...c, body: `{"title":"big","description":"${'d'.repeat(Math.max(0, size - 40))}"}` }),
  ]),
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/problem+json',
    '*/*',
    '',
    ';;;',
    'application/json; charset=' + 'x'.repeat(2000),
    'text/html; charset=latin1',
    'foo',
    '/json',
    'a/b c',
  ).map((type) => ['headers:content-type', (c) => ({ ...c, headers: { ...c.headers, 'content-type': type } })]),
  fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'UNLOCK', 'COPY', 'MOVE', 'PURGE', 'SEARCH', 'REPORT', 'LINK', 'QUERY', 'FOO', 'get', 'M-SEARCH').map((method) => [
    'method:other',
    // A method Node's parser does not know is refused as soon as the request line is read and the connection is
    // closed; a large body still being written then meets a reset before the answer can be read. The method is
    // what is under test, so such requests carry no body.
    (c): FuzzCase => {
      if (METHODS.includes(method)) return { ...c, method };
      const { body: _dropped, ...rest } = c;
      return { ...rest, method };
    },
  ]),
  fc.constantFrom(
    '..',
    '../..',
    '..%2f..%2fetc%2fpasswd',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '....//....//etc/passwd',
    '%252e%252e%252f',
    '..\\..\\etc\\passwd',
    '1%00',
    '%00',
    '1%0d%0aX-Injected:%201',
    '0',
    '-0',
    '-1',
    '+1',
    '00001',
    '1.5',
    '1e3',
    '0x10',
    '%201',
    '1%20',
    '%D9%A1',
    '%EF%BC%91',
    '9'.repeat(400),
    '9223372036854775808',
    '-9223372036854775809',
    "1'%20OR%20'1'='1",
    '1;DROP%20TABLE%20todos',
    '%7Bid%7D',
    ':id',
    '*',
    'null',
    'undefined',
    '%E2%80%AE1',
    '%E0%A4%A',
    '%',
    '%zz',
    '%C0%AF',
    'é',
    '\u00ff',
    '0'.repeat(120) + '1',
    ...PROTO_KEYS,
  ).map((raw) => ['path:weird-id', (c) => ({ ...c, id: { raw } })]),
  fc.constantFrom(
    '/api/todos/1/extra',
    '/api/todos/../../etc/passwd',
    '/api/todos/%2e%2e/%2e%2e/etc/passwd',
    '//api/todos',
    '/api//todos',
    '/API/TODOS',
    '/api/todos/',
    '/api/todos/1/',
    '/api/todos;jsessionid=1',
    '/api/todos%2F1',
    '/api%2Ftodos',
    '*',
    '/health/',
    '/livez',
    '/openapi.json',
    '/api/todos\\1',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/etc/passwd',
    '/.env',
    '/.git/config',
    '/openapi.json/..',
    '/docs/static/..%2f..%2fpackage.json',
    '/docs/static/swagger-ui.css%00.js',
    '/docs/static/../../package.json',
    '/' + 'a/'.repeat(500),
    '/api/todos/' + '1'.repeat(5000),
  ).map((path) => ['path:traversal', (c) => ({ ...c, path, operationId: 'none', query: '' })]),
  fc.constantFrom(
    'page=0',
    'page=-1',
    'page=1e9',
    'page=99999999999999999999',
    'page=NaN',
    'page=Infinity',
    'page=0x10',
    'page=%201',
    'page=1&page=2',
    'limit=5&limit=7',
    'page=9223372036854775807',
    'page[]=1',
    'page[$gt]=1',
    'limit=0',
    'limit=101',
    'limit=-5',
    'limit=1.5',
    'limit=%2B7',
    'limit=',
    'limit',
    'completed=TRUE',
    'completed=1',
    'completed=',
    'completed[]=true',
    'completed[$ne]=x',
    'completed=true&completed=false',
    '__proto__[polluted]=1',
    'constructor[prototype][polluted]=1',
    'q=' + encodeURIComponent("' OR 1=1 --"),
    'x=' + 'y'.repeat(8000),
    '%',
    'page=%E0%A4%A',
    '&&&&',
    '=',
    'a=b=c',
  ).map((query) => ['query:odd', (c) => ({ ...c, query })]),
  fc.constantFrom<Record<string, string>>(
    { 'x-request-id': 'x'.repeat(129) },
    { 'x-request-id': 'has spaces' },
    { 'x-request-id': '<script>' },
    { 'x-request-id': "' OR 1=1" },
    { accept: 'text/html' },
    { accept: 'application/xml' },
    { accept: '*/*;q=0' },
    { 'accept-encoding': 'gzip, br' },
    { origin: 'https://evil.example' },
    { 'x-forwarded-for': '1.2.3.4, ' + 'x'.repeat(500) },
    { 'x-http-method-override': 'DELETE' },
    { expect: '100-continue' },
    { 'content-encoding': 'gzip' },
    { 'transfer-encoding': 'chunked' },
    { 'transfer-encoding': 'chunked', 'content-length': '5' },
    { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' },
    { cookie: 'a=' + 'b'.repeat(4000) },
    { cookie: 'a=' + 'b'.repeat(20_000) },
  ).map((extra) => ['headers:odd', (c) => ({ ...c, headers: { ...c.headers, ...extra } })]),
  // Conditional requests and Idempotency-Key: tags that match (`*`, the first version) or never do, keys that
  // are fresh (a UUID per case: no case replays another's answer) or malformed.
  fc
    .oneof(
      fc.constantFrom<Record<string, string>>(
        { 'if-match': '*' },
        { 'if-match': '"0.0"' },
        { 'if-match': 'W/"1.1"' },
        { 'if-match': 'not a tag' },
        { 'if-none-match': '*' },
        { 'if-none-match': '"0.0"' },
        { 'if-none-match': 'W/"x", "y"' },
        { 'idempotency-key': '' },
        { 'idempotency-key': 'ä' },
        { 'idempotency-key': 'k'.repeat(300) },
      ),
      fc.uuid().map((key) => ({ 'idempotency-key': key })),
      fc.uuid().map((key) => ({ 'idempotency-key': `"${key}"`, 'if-match': '*' })),
    )
    .map((extra) => ['headers:conditional', (c) => ({ ...c, headers: { ...c.headers, ...extra } })]),
];

/** Requests from the document: valid ones for every operation, and mutations of them (one to three each). */
export function caseArbitrary(doc: OpenApiDocument): fc.Arbitrary<FuzzCase> {
  const valid = fc.oneof(...doc.operations.map(validCase));
  const mutated = fc
    .tuple(valid, fc.array(fc.oneof(...mutations), { minLength: 1, maxLength: 3 }))
    .map(([c, steps]) => steps.reduce((acc, [name, apply]) => ({ ...apply(acc), kind: acc.kind === 'valid' ? name : `${acc.kind}+${name}` }), c));
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: mutated, weight: 7 });
}

// ---- sending ------------------------------------------------------------------------------------------------------

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The connection was closed while an over-limit body was still being sent, before any answer was read. */
  cutOff?: boolean;
}

/** Sends one request with node:http (any method, any path, any bytes); resolves with the answer. */
export async function send(base: URL, agent: Agent, method: string, path: string, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Answer> {
  try {
    return await sendOnce(base, agent, method, path, headers, body);
  } catch (error) {
    // A kept-alive connection the server had just closed (after a parser error it closes without saying so):
    // the request never reached it, so it is sent again once, as Node's documentation advises.
    if ((error as { reusedSocket?: boolean }).reusedSocket) return sendOnce(base, agent, method, path, headers, body);
    throw error;
  }
}

function sendOnce(base: URL, agent: Agent, method: string, path: string, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Answer> {
  // Node frames a body of a DELETE or OPTIONS request only with an explicit length (they default to no body).
  if (body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    headers = { ...headers, 'content-length': Buffer.byteLength(body) };
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: base.hostname, port: base.port, method, path, headers, agent, timeout: 15_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 15 s: ${method} ${path}`)));
    // A server may answer (413) and close before reading a large body; the answer is what counts.
    req.on('error', (error: Error & { code?: string }) => {
      if (answered) return;
      const retryable = req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.message === 'socket hang up');
      if (!retryable && (error.code === 'EPIPE' || error.code === 'ECONNRESET') && body !== undefined && Buffer.byteLength(body) > BODY_LIMIT) {
        resolve({ status: 0, headers: {}, text: '', cutOff: true });
        return;
      }
      reject(Object.assign(error, { reusedSocket: retryable }));
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- the run ------------------------------------------------------------------------------------------------------

/** Answers that break the properties in ways known and filed (see fuzz.test.ts): counted and printed, not failed. */
export const KNOWN_DEVIATIONS: Record<string, { why: string; matches: (c: { method: string; path: string }, a: Answer) => boolean }> = {
  'over-limit-body-cut-off': {
    why:
      'the service answers an over-limit body with 413 and closes the connection without reading the rest; Node ' +
      'has no lingering close, so a client still writing may see EPIPE/ECONNRESET before it can read the 413 ' +
      '(the 413 itself is checked by test/api/errors.test.ts)',
    matches: (_c, a) => a.cutOff === true,
  },
};

/** What the differential mode saw. */
export interface DifferentialStats {
  /** Exchanges whose two answers were compared. */
  compared: number;
  agreed: number;
  goByStatus: Record<string, number>;
  goServerErrors: number;
  /** Disagreements allowed by DIFFERENTIAL_DEVIATIONS, by name. */
  deviations: Record<string, number>;
  /** With `collect`: disagreements that matched no entry, by signature, with their count and first exchange. */
  unexplained: Record<string, { count: number; example: string }>;
  /** The first exchange seen for each deviation and Go 5xx, for the report. */
  examples: Record<string, string>;
  /** Exchanges not compared because the id counters of the two sides came apart (should stay 0). */
  skipped: number;
  /** Exchanges not compared because Go reset the connection before its answer could be read (then resynced). */
  goCutOff: number;
  /** Todos created or deleted on one side only, then undone or repeated on the other. */
  resynced: number;
}

export interface FuzzStats {
  differential?: DifferentialStats;
  cases: number;
  requests: number;
  byClass: Record<string, number>;
  byStatus: Record<string, number>;
  byKind: Record<string, number>;
  deviations: Record<string, number>;
  /** Accepted writes read back and compared. */
  roundTrips: number;
}

export function newStats(): FuzzStats {
  return { cases: 0, requests: 0, byClass: {}, byStatus: {}, byKind: {}, deviations: {}, roundTrips: 0 };
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

interface StoredTodo {
  id: number;
  title: string;
  description: string;
  completed: boolean;
}

/** Differential mode: the Go reference to send every case to as well. */
export interface Reference {
  /** The Go reference's base URL. */
  url: string;
  /** Collect disagreements that match no entry (counted, with an example) instead of failing at the first. */
  collect?: boolean;
}

/** The fuzzer's side: the server, its document, the todos it created (the model) and the counts. */
export class Fuzzer {
  readonly stats = newStats();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly base: URL;
  private readonly model = new Map<number, StoredTodo>();
  /** The ids of the todos the fuzzer created, in order; in differential mode `goIds` holds Go's at the same index. */
  private readonly ids: number[] = [];
  private readonly goIds: number[] = [];
  private readonly go: { base: URL; agent: Agent; collect: boolean } | undefined;
  /** Whether both sides still give a new todo the same id (so raw ids name the same todo on both). */
  private aligned = true;

  constructor(url: string, readonly doc: OpenApiDocument, reference?: Reference) {
    this.base = new URL(url);
    if (reference) {
      this.go = { base: new URL(reference.url), agent: new Agent({ keepAlive: true, maxSockets: 1 }), collect: reference.collect ?? false };
      this.stats.differential = { compared: 0, agreed: 0, goByStatus: {}, goServerErrors: 0, deviations: {}, unexplained: {}, examples: {}, skipped: 0, goCutOff: 0, resynced: 0 };
    }
  }

  close(): void {
    this.agent.destroy();
    this.go?.agent.destroy();
  }

  /**
   * Differential mode: the same state on both sides before the first case. The Go service starts with two
   * example todos (ids 1 and 2) and we start empty: every todo there is deleted, then both id counters are
   * brought level (a todo created and deleted at once on each side; the side behind repeats until equal).
   */
  async prepare(): Promise<void> {
    if (!this.go) return;
    for (;;) {
      const list = JSON.parse((await this.sendGo('GET', '/api/todos?limit=100')).text) as { todos: { id: number }[] };
      if (list.todos.length === 0) break;
      for (const todo of list.todos) await this.sendGo('DELETE', `/api/todos/${todo.id}`);
    }
    let ours = await this.burnId('ours');
    let go = await this.burnId('go');
    while (ours < go) ours = await this.burnId('ours');
    while (go < ours) go = await this.burnId('go');
  }

  /** Creates a todo on one side and deletes it at once: the side's id counter moves on by one. Returns the id. */
  private async burnId(side: 'ours' | 'go'): Promise<number> {
    const body = '{"title":"id filler"}';
    const headers = { 'content-type': 'application/json' };
    if (side === 'go') {
      const created = await this.sendGo('POST', '/api/todos', headers, body);
      assert.equal(created.status, 201, `Go: POST /api/todos ${body}: ${created.text}`);
      const id = (JSON.parse(created.text) as { todo: { id: number } }).todo.id;
      await this.sendGo('DELETE', `/api/todos/${id}`);
      return id;
    }
    const created = await this.exchange({ method: 'POST', kind: 'id-filler' }, '/api/todos', headers, body);
    assert.equal(created.answer.status, 201, `POST /api/todos ${body}`);
    const id = (created.json as { todo: { id: number } }).todo.id;
    await this.exchange({ method: 'DELETE', kind: 'id-filler' }, `/api/todos/${id}`, {});
    return id;
  }

  /** One request to the Go reference, counted but not checked. */
  private async sendGo(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
    const answer = await send(this.go!.base, this.go!.agent, method, path, headers, body);
    bump(this.stats.differential!.goByStatus, String(answer.status));
    return answer;
  }

  /** One request, checked against the properties that hold for every answer. */
  async exchange(c: Pick<FuzzCase, 'method' | 'kind'>, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<{ answer: Answer; json: unknown }> {
    const answer = await send(this.base, this.agent, c.method, path, headers, body);
    this.stats.requests += 1;
    bump(this.stats.byClass, `${String(answer.status).slice(0, 1)}xx`);
    bump(this.stats.byStatus, String(answer.status));
    const where = `${c.method} ${path} (${c.kind}) → ${answer.status}`;
    const contentType = headerOf(answer, 'content-type');
    let json: unknown = answer.text;
    if (/json/.test(contentType) && answer.text !== '') {
      try {
        json = JSON.parse(answer.text);
      } catch {
        assert.fail(`${where}: a JSON content type with a body that is not JSON: ${answer.text.slice(0, 200)}`);
      }
    }

    for (const [name, deviation] of Object.entries(KNOWN_DEVIATIONS)) {
      if (deviation.matches({ method: c.method, path }, answer)) {
        bump(this.stats.deviations, name);
        return { answer, json };
      }
    }

    assert.ok(answer.status < 500, `${where}: a server error: ${answer.text.slice(0, 500)}`);
    if (answer.status >= 400 && answer.status < 500) {
      assert.equal(mediaTypeOf(contentType), 'application/problem+json', `${where}: a 4xx that is not a problem: ${contentType} ${answer.text.slice(0, 300)}`);
      if (c.method !== 'HEAD') {
        const p = json as Json;
        for (const key of ['type', 'title', 'detail', 'instance', 'error', 'timestamp', 'request_id']) {
          assert.equal(typeof p[key], 'string', `${where}: problem member ${key}: ${answer.text.slice(0, 300)}`);
        }
        assert.equal(p.status, answer.status, `${where}: problem status`);
        assert.equal(p.request_id, headerOf(answer, 'x-request-id'), `${where}: request_id is the X-Request-Id`);
      }
      if (answer.status === 405) assert.ok(headerOf(answer, 'allow') !== '', `${where}: 405 without Allow`);
    }
    try {
      checkExchange(this.doc, { method: c.method, ...splitTarget(path), status: answer.status, contentType: contentType || null, body: json, text: answer.text });
    } catch (error) {
      assert.fail(`${where}: ${(error as Error).message}`);
    }
    return { answer, json };
  }

  /** Runs one generated case: the request (to both sides in differential mode), then the read-back of anything it changed. */
  async run(c: FuzzCase): Promise<void> {
    this.stats.cases += 1;
    bump(this.stats.byKind, c.kind.split('+')[0]!);
    const target = (ids: number[]) => c.path.replace('{id}', resolveId(c.id, ids)) + (c.query ? `?${c.query}` : '');
    const path = target(this.ids);
    const { answer, json } = await this.exchange(c, path, c.headers, c.body);
    const goPath = target(this.goIds);
    const go = this.go ? { path: goPath, answer: await this.sendGo(c.method, goPath, c.headers, c.body) } : undefined;
    if (go) this.compare({ kind: c.kind, method: c.method.toUpperCase(), path, goPath: go.path, headers: c.headers, body: c.body, ours: answer, oursJson: json, go: go.answer }, c);

    const ours = await this.followUp(c, path, answer, json);
    if (!go) {
      if (ours.created !== undefined) this.ids.push(ours.created);
      return;
    }
    if (go.answer.cutOff) await this.reconcile();
    else await this.resync(c, ours, effectOnGo(c.method, go.answer));
  }

  /**
   * Differential mode, after an exchange whose Go answer was lost (Go does not read the body of a DELETE or of
   * a 404 and may close the connection while a large one is still being written): whatever Go did, the todos
   * alive on each side are compared with Go's full list and made alike again.
   */
  private async reconcile(): Promise<void> {
    const alive = new Set<number>();
    for (let page = 1; ; page++) {
      const { todos } = JSON.parse((await this.sendGo('GET', `/api/todos?limit=100&page=${page}`)).text) as { todos: { id: number }[] };
      for (const todo of todos) alive.add(todo.id);
      if (todos.length < 100) break;
    }
    for (const [index, ourId] of this.ids.entries()) {
      const goId = this.goIds[index]!;
      if (this.model.has(ourId) && !alive.has(goId)) {
        this.stats.differential!.resynced += 1;
        await this.deleteOurs(ourId);
      } else if (!this.model.has(ourId) && alive.has(goId)) {
        this.stats.differential!.resynced += 1;
        await this.sendGo('DELETE', `/api/todos/${goId}`);
      }
    }
  }

  /** Differential mode: the two answers of one case, judged (test/support/fuzz-differential.ts). */
  private compare(x: Exchange, c: FuzzCase): void {
    const d = this.stats.differential!;
    if (!this.aligned && c.id !== undefined && 'raw' in c.id) {
      d.skipped += 1;
      return;
    }
    const example = (key: string) => {
      d.examples[key] ??= describeExchange(x);
    };
    if (x.go.cutOff) {
      // Go may have answered (and acted) before the reset; what it answered is unknown, so nothing is compared.
      d.goCutOff += 1;
      example('Go reset the connection while the body was still being sent');
      return;
    }
    d.compared += 1;
    const verdict = judge(x);
    switch (verdict.kind) {
      case 'agree':
        d.agreed += 1;
        return;
      case 'go-5xx':
        d.goServerErrors += 1;
        example(`Go ${x.go.status}`);
        return;
      case 'deviation':
        bump(d.deviations, verdict.name);
        example(verdict.name);
        return;
      case 'unexplained': {
        const message = `ours and Go disagree (${statusClass(x.ours)} vs ${statusClass(x.go)}), and no entry of DIFFERENTIAL_DEVIATIONS (test/support/fuzz-differential.ts) explains it:\n${describeExchange(x)}`;
        if (!this.go!.collect) assert.fail(message);
        const signature = `${c.kind.replace(/\+.*/, '')} ${x.method} ours ${x.ours.cutOff ? 'cut-off' : x.ours.status} Go ${x.go.status}`;
        const seen = (d.unexplained[signature] ??= { count: 0, example: describeExchange(x) });
        seen.count += 1;
      }
    }
  }

  /**
   * Differential mode: keeps the two stores alike after a case that created or deleted a todo on one side only
   * (a deviation: e.g. a 300-character title Go stored and we refused). The created todo is deleted again,
   * and the other side burns an id, so both counters stay level; a delete is repeated on the other side.
   */
  private async resync(c: FuzzCase, ours: Effect, go: Effect): Promise<void> {
    const d = this.stats.differential!;
    if (ours.created !== undefined && go.created !== undefined) {
      this.ids.push(ours.created);
      this.goIds.push(go.created);
      if (ours.created !== go.created && this.aligned) {
        this.aligned = false;
        d.examples['ids came apart'] = `${c.method} ${c.path}: we gave id ${ours.created}, Go ${go.created}; raw ids are no longer compared`;
      }
    } else if (ours.created !== undefined) {
      d.resynced += 1;
      await this.deleteOurs(ours.created);
      await this.burnId('go');
    } else if (go.created !== undefined) {
      d.resynced += 1;
      await this.sendGo('DELETE', `/api/todos/${go.created}`);
      await this.burnId('ours');
    }
    if (ours.deleted !== undefined && go.deleted === undefined) {
      const index = this.ids.indexOf(ours.deleted);
      const goId = index >= 0 ? this.goIds[index] : this.aligned ? ours.deleted : undefined;
      if (goId !== undefined) {
        d.resynced += 1;
        await this.sendGo('DELETE', `/api/todos/${goId}`);
      }
    } else if (go.deleted !== undefined && ours.deleted === undefined) {
      const index = this.goIds.indexOf(go.deleted);
      const ourId = index >= 0 ? this.ids[index] : this.aligned ? go.deleted : undefined;
      if (ourId !== undefined && this.model.has(ourId)) {
        d.resynced += 1;
        await this.deleteOurs(ourId);
      }
    }
  }

  private async deleteOurs(id: number): Promise<void> {
    const deleted = await this.exchange({ method: 'DELETE', kind: 'resync' }, `/api/todos/${id}`, {});
    assert.equal(deleted.answer.status, 200, `DELETE /api/todos/${id} (resync)`);
    this.model.delete(id);
  }

  /** Our side of a case after its answer: the model updated and checked. Says what it created or deleted. */
  private async followUp(c: FuzzCase, path: string, answer: Answer, json: unknown): Promise<Effect> {
    if (answer.status >= 300 || answer.cutOff) return {};

    // A mangled path the router still routes (`/api/todos/`, `/api/todos/1/`: one trailing slash is ignored)
    // acts like its operation, so it updates the model like any other case.
    // Node's client sends the method upper-cased (`get` goes out as GET).
    const method = c.method.toUpperCase();
    const op = this.doc.find(method === 'HEAD' ? 'GET' : method, splitTarget(path).path);
    if (!op && !['GET', 'HEAD', 'OPTIONS'].includes(method)) {
      assert.fail(`${c.method} ${path}: ${answer.status} for a path that is no operation of the document`);
    }
    if (!op || method === 'HEAD') return {};
    const sent = sentJson(c.body);
    if (op.operationId === 'createTodo' && answer.status === 201) {
      const todo = (json as { todo: StoredTodo }).todo;
      const expected: StoredTodo = { id: todo.id, title: (sent.title as string).trim(), description: (sent.description as string | null | undefined) ?? '', completed: false };
      await this.verify(c, todo, expected);
      return { created: todo.id };
    } else if ((op.operationId === 'updateTodo' || op.operationId === 'patchTodo') && answer.status === 200) {
      const todo = (json as { todo: StoredTodo }).todo;
      const before = this.model.get(todo.id);
      assert.ok(before, `${c.method} ${path}: updated todo ${todo.id}, which the fuzzer never created`);
      const text = (v: unknown) => typeof v === 'string' && v !== '';
      const expected: StoredTodo = {
        id: todo.id,
        title: text(sent.title) ? (sent.title as string).trim() : before.title,
        description: text(sent.description) ? (sent.description as string) : before.description,
        completed: typeof sent.completed === 'boolean' ? sent.completed : before.completed,
      };
      await this.verify(c, todo, expected);
    } else if (op.operationId === 'deleteTodo' && answer.status === 200) {
      const todo = (json as { todo: StoredTodo }).todo;
      const before = this.model.get(todo.id);
      assert.ok(before, `${c.method} ${path}: deleted todo ${todo.id}, which the fuzzer never created`);
      assert.deepEqual(pick(todo), before, `${c.method} ${path}: the deleted todo is the stored one`);
      this.model.delete(todo.id);
      const gone = await this.exchange({ method: 'GET', kind: 'read-back' }, `/api/todos/${todo.id}`, {});
      assert.equal(gone.answer.status, 404, `GET /api/todos/${todo.id} after its delete`);
      return { deleted: todo.id };
    }
    return {};
  }

  /** The answer and a fresh GET both hold exactly what the rules say was stored. */
  private async verify(c: FuzzCase, answered: StoredTodo, expected: StoredTodo): Promise<void> {
    const what = `${c.method} ${c.path} (${c.kind}) body ${describeBody(c.body)}`;
    assert.deepEqual(pick(answered), expected, `${what}: the answer holds what was sent`);
    const read = await this.exchange({ method: 'GET', kind: 'read-back' }, `/api/todos/${answered.id}`, {});
    assert.equal(read.answer.status, 200, `${what}: read back`);
    const stored = pick((read.json as { todo: StoredTodo }).todo);
    assert.deepEqual(stored, expected, `${what}: read back byte-identical`);
    this.model.set(answered.id, stored);
    this.stats.roundTrips += 1;
  }
}

/** The id a case names, on a side whose created todos have these ids (in creation order). */
function resolveId(spec: IdSpec | undefined, ids: number[]): string {
  if (!spec) return '';
  if ('raw' in spec) return spec.raw;
  if (ids.length === 0) return '1';
  return String(ids[spec.known % ids.length]);
}

/** What a case did to the store of one side. */
interface Effect {
  created?: number;
  deleted?: number;
}

/** What the Go service did, read from its answer (a 201 always creates; a DELETE's 200 always deletes). */
function effectOnGo(method: string, a: Answer): Effect {
  if (a.status !== 201 && !(a.status === 200 && method.toUpperCase() === 'DELETE')) return {};
  try {
    const id = (JSON.parse(a.text) as { todo?: { id?: unknown } }).todo?.id;
    if (typeof id !== 'number') return {};
    return a.status === 201 ? { created: id } : { deleted: id };
  } catch {
    return {};
  }
}

const pick = (t: StoredTodo): StoredTodo => ({ id: t.id, title: t.title, description: t.description, completed: t.completed });

function headerOf(a: Answer, name: string): string {
  const v = a.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

/** The body as the server reads it: UTF-8 text, a leading BOM dropped, JSON. */
function sentJson(body: string | Buffer | undefined): Json {
  const text = (typeof body === 'string' ? body : (body?.toString('utf8') ?? '')).replace(/^\uFEFF/, '');
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Json) : {};
  } catch {
    return {};
  }
}

function describeBody(body: string | Buffer | undefined): string {
  if (body === undefined) return '(none)';
  const text = typeof body === 'string' ? body : `bytes ${body.toString('hex')}`;
  return text.length > 300 ? `${JSON.stringify(text.slice(0, 300))}… (${text.length} characters)` : JSON.stringify(text);
}

/** One line per count, for the test output. */
export function report(name: string, s: FuzzStats, seconds: number): string[] {
  const sorted = (m: Record<string, number>) =>
    Object.entries(m)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  return [
    `fuzz ${name}: ${s.requests} requests from ${s.cases} generated cases in ${seconds.toFixed(1)} s (${Math.round(s.requests / seconds)}/s); ${s.roundTrips} accepted writes read back byte-identical`,
    `  by status class: ${sorted(s.byClass)}`,
    `  by status: ${sorted(s.byStatus)}`,
    `  cases by kind: ${sorted(s.byKind)}`,
    `  known deviations (filed, not failed): ${sorted(s.deviations) || 'none'}`,
    ...(s.differential ? differentialReport(s.differential) : []),
  ];
}

function differentialReport(d: DifferentialStats): string[] {
  const sorted = (m: Record<string, number>) =>
    Object.entries(m)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  return [
    `  differential vs the Go reference: ${d.compared} exchanges compared, ${d.agreed} agreed; Go answered ${sorted(d.goByStatus)}`,
    `  deliberate deviations (DIFFERENTIAL_DEVIATIONS): ${sorted(d.deviations) || 'none'}`,
    `  Go 5xx (recorded, not compared): ${d.goServerErrors}; todos resynced: ${d.resynced}; not compared: ${d.skipped} (ids apart), ${d.goCutOff} (Go reset the connection)`,
    ...Object.entries(d.unexplained).map(([signature, { count, example }]) => `  UNEXPLAINED ×${count} ${signature}:\n${example}`),
  ];
}

/** The first exchange seen for each deviation and Go 5xx (for FUZZ_DIFF_EXAMPLES=1). */
export function differentialExamples(s: FuzzStats): string[] {
  return Object.entries(s.differential?.examples ?? {}).map(([name, example]) => `[${name}] ${example}`);
}
