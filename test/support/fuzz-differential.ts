// The differential part of the fuzzer (test/support/fuzz.ts): every generated request also goes to the Go reference
// (../shared/reference/go-gin-seed beside the project: the API contract), and the two answers must fall in the
// same status class (2xx, 3xx, 4xx; a 5xx of ours already fails the run, a 5xx of Go's is only counted). A
// disagreement is allowed only when it matches an entry of DIFFERENTIAL_DEVIATIONS: what we do differently on
// purpose, each with its reason, mirrored one row per entry in docs/DECISIONS.md ("Deliberate strictness vs the
// Go service"; test/api/fuzz.test.ts holds the two in step by name). Anything else fails the run with the exchange
// printed (and a curl line to replay it).
import { isUtf8 } from 'node:buffer';
import type { Answer } from './fuzz.js';

type Json = Record<string, unknown>;

/** One generated request as both servers received it, and both answers. */
export interface Exchange {
  kind: string;
  /** Upper-cased, as Node's client sends it. */
  method: string;
  /** The target sent to us and to Go: the same but for ids of todos the fuzzer created (each server's own). */
  path: string;
  goPath: string;
  headers: Record<string, string>;
  body?: string | Buffer | undefined;
  ours: Answer;
  oursJson: unknown;
  go: Answer;
}

export interface Deviation {
  name: string;
  /** The rows of the table in docs/DECISIONS.md: the kind of request, Go's answer, ours, and why. */
  request: string;
  goAnswer: string;
  ourAnswer: string;
  why: string;
  matches: (x: Exchange) => boolean;
}

/** The service's body limit (src/todos/schemas.ts, TODO_BODY_LIMIT). */
export const BODY_LIMIT = 32 * 1024;
/** Node's default --max-http-header-size: request line and headers together. */
const HEADER_LIMIT = 16 * 1024;
const TITLE_MAX = 200;
const DESCRIPTION_MAX = 2000;

/** A status class; an over-limit body cut off before the answer could be read was a 413. */
export const statusClass = (a: Answer) => (a.cutOff ? '4xx' : `${Math.floor(a.status / 100)}xx`);

const ok = (a: Answer) => statusClass(a) === '2xx';
const refused = (a: Answer) => statusClass(a) === '4xx';
const writes = (x: Exchange) => x.method === 'POST' || x.method === 'PUT' || x.method === 'PATCH';
const problemType = (x: Exchange) => (x.oursJson !== null && typeof x.oursJson === 'object' ? (x.oursJson as Json).type : undefined);
const invalidJson = (x: Exchange) => x.ours.status === 400 && problemType(x) === 'urn:todo-service:problem:invalid-json';
const header = (x: Exchange, name: string) => Object.entries(x.headers).find(([k]) => k.toLowerCase() === name)?.[1];
const pathOf = (target: string) => target.split('?', 1)[0]!;
const queryOf = (target: string) => new URLSearchParams(target.includes('?') ? target.slice(target.indexOf('?') + 1) : '');

export const bodyBytes = (x: Pick<Exchange, 'body'>) => (x.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(x.body) ? x.body : Buffer.from(x.body, 'utf8'));
const bodyText = (x: Exchange) => bodyBytes(x).toString('utf8');

/** The body as JavaScript reads it (a leading BOM dropped), or undefined when it is not JSON. */
function parsedBody(x: Exchange): unknown {
  try {
    return JSON.parse(bodyText(x).replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
}

/** A string member of the body object (the last one of that name, as both parsers take it). */
function textField(x: Exchange, name: string): string | undefined {
  const body = parsedBody(x);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const value = Object.getOwnPropertyDescriptor(body, name)?.value as unknown;
  return typeof value === 'string' ? value : undefined;
}

const codePoints = (s: string) => [...s].length;

/**
 * Reads the first JSON value of `text` (RFC 8259 grammar, leading whitespace allowed) as Go's json.Decoder
 * does: where it ends, and whether an object in it repeats a key. Undefined when no complete value starts it.
 */
export function scanJson(text: string): { end: number; duplicateKeys: boolean } | undefined {
  let i = 0;
  let duplicateKeys = false;
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string | undefined => {
    if (text[i] !== '"') return undefined;
    const start = i++;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '\\') i += 2;
      else if (ch < ' ') return undefined;
      else if (ch === '"') {
        i++;
        try {
          return JSON.parse(text.slice(start, i)) as string;
        } catch {
          return undefined;
        }
      } else i++;
    }
    return undefined;
  };
  const value = (depth: number): boolean => {
    if (depth > 500) return false;
    space();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      const keys = new Set<string>();
      i++;
      space();
      if (text[i] === close) return i++, true;
      for (;;) {
        if (ch === '{') {
          space();
          const key = string();
          if (key === undefined) return false;
          if (keys.has(key)) duplicateKeys = true;
          keys.add(key);
          space();
          if (text[i++] !== ':') return false;
        }
        if (!value(depth + 1)) return false;
        space();
        if (text[i] === ',') i++;
        else if (text[i] === close) return i++, true;
        else return false;
      }
    }
    if (ch === '"') return string() !== undefined;
    const literal = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)/.exec(text.slice(i, i + 1000));
    if (!literal) return false;
    i += literal[0].length;
    return true;
  };
  return value(0) ? { end: i, duplicateKeys } : undefined;
}

/** Whether a parsed body holds a `__proto__` key, or a `constructor` key whose value has a `prototype` key. */
function hasPrototypeKeys(v: unknown, depth = 0): boolean {
  if (v === null || typeof v !== 'object' || depth > 500) return false;
  if (Array.isArray(v)) return v.some((item) => hasPrototypeKeys(item, depth + 1));
  if (Object.hasOwn(v, '__proto__')) return true;
  const ctor = Object.getOwnPropertyDescriptor(v, 'constructor')?.value as unknown;
  if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true;
  return Object.values(v).some((item) => hasPrototypeKeys(item, depth + 1));
}

/** Go's encoding/json matches keys to fields with Unicode case folding (`Title`, `TİTLE`... and ſ, K). */
const foldKey = (k: string) => k.toLowerCase().replace(/\u017f/g, 's').replace(/\u212a/g, 'k');
const FIELDS = ['title', 'description', 'completed'];
function hasCaseFoldedField(x: Exchange): boolean {
  const body = parsedBody(x);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  return Object.keys(body).some((k) => !FIELDS.includes(k) && FIELDS.includes(foldKey(k)));
}

// The characters the service's schemas refuse (src/todos/schemas.ts): control characters are the point here.
const TITLE_FORBIDDEN = /[\p{Cc}\p{Cs}]/u;
// eslint-disable-next-line no-control-regex
const DESCRIPTION_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\p{Cs}]/u;

function headerBytes(x: Exchange): number {
  return x.method.length + x.path.length + 12 + Object.entries(x.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 0);
}

/** The `completed` filter as we accept it: absent, or exactly one `true` or `false`. */
function validCompletedFilter(x: Exchange): boolean {
  const values = queryOf(x.path).getAll('completed');
  return values.length === 0 || (values.length === 1 && (values[0] === 'true' || values[0] === 'false'));
}

const isList = (x: Exchange) => /^\/api\/todos\/?$/.test(pathOf(x.path)) && (x.method === 'GET' || x.method === 'HEAD');

/**
 * What we do differently from the Go service on purpose. Keep in step with the table "Deliberate strictness vs
 * the Go service" in docs/DECISIONS.md (a test in test/api/fuzz.test.ts checks the names).
 */
export const DIFFERENTIAL_DEVIATIONS: Deviation[] = [
  // -- Stricter: Go accepts, we refuse --------------------------------------------------------------------
  // Transport first: whatever the body holds, these are refused before it is read.
  {
    name: 'body-over-limit',
    request: 'A body over the body limit (32 KiB, a few KiB above the largest valid todo; BODY_LIMIT_BYTES), on any method that takes one',
    goAnswer: 'reads any size: 201/200',
    ourAnswer: '413, connection closed (a client still writing may see a reset)',
    why: 'Memory per request is bounded; a todo is at most a few KiB.',
    matches: (x) => (x.ours.status === 413 || x.ours.cutOff === true) && bodyBytes(x).length > BODY_LIMIT,
  },
  {
    name: 'headers-over-16k',
    request: 'Request line and headers over 16 KiB (e.g. a 20 KB cookie)',
    goAnswer: 'accepts up to 1 MiB of headers: 200',
    ourAnswer: "431 (Node's HTTP parser, before any route)",
    why: "Node's default bound on header memory per connection; no client of this API needs more.",
    matches: (x) => x.ours.status === 431 && headerBytes(x) > HEADER_LIMIT - 1024,
  },
  {
    name: 'transfer-encoding-with-content-length',
    request: 'A request with both `Transfer-Encoding: chunked` and `Content-Length`',
    goAnswer: 'drops Content-Length, reads the chunks: 201/200',
    ourAnswer: "400 (Node's HTTP parser)",
    why: 'RFC 9112 §6.3: such a message may be an attempt at request smuggling and ought to be handled as an error.',
    matches: (x) => x.ours.status === 400 && header(x, 'transfer-encoding') !== undefined && header(x, 'content-length') !== undefined,
  },
  {
    name: 'text-too-long',
    request: 'POST/PUT with a `title` over 200 characters (after trimming) or a `description` over 2000',
    goAnswer: '201/200, stores it',
    ourAnswer: '400 validation-error',
    why: 'The limits are part of the contract (maxLength in the OpenAPI document); Go has none, so one request can store megabytes that every list page then serves.',
    matches: (x) => {
      const title = textField(x, 'title');
      const description = textField(x, 'description');
      return (
        writes(x) &&
        ok(x.go) &&
        x.ours.status === 400 &&
        ((title !== undefined && codePoints(title.trim()) > TITLE_MAX) || (description !== undefined && codePoints(description) > DESCRIPTION_MAX))
      );
    },
  },
  {
    name: 'blank-title',
    request: 'POST/PUT with a `title` of only whitespace (`"   "`; `""` keeps the title on PUT, as in Go)',
    goAnswer: '201/200, stores the blanks',
    ourAnswer: '400 validation-error',
    why: 'A todo without a visible title is never what the client meant; on PUT a silent "keep the old title" would let the client believe it renamed something.',
    matches: (x) => {
      const title = textField(x, 'title');
      return writes(x) && ok(x.go) && x.ours.status === 400 && title !== undefined && title !== '' && title.trim() === '';
    },
  },
  {
    name: 'control-characters',
    request: 'POST/PUT with a control character in `title` (tab and newline included) or in `description` (tab, LF, CR allowed), or an unpaired UTF-16 surrogate (`"\\ud800"`) in either',
    goAnswer: '201/200 (a lone surrogate becomes U+FFFD)',
    ourAnswer: '400 validation-error',
    why: 'What is stored must come back byte-identical from every backend: PostgreSQL refuses NUL, UTF-8 cannot hold a lone surrogate; control characters in titles are log and terminal injection.',
    matches: (x) => {
      const title = textField(x, 'title');
      const description = textField(x, 'description');
      return writes(x) && ok(x.go) && x.ours.status === 400 && ((title !== undefined && TITLE_FORBIDDEN.test(title.trim())) || (description !== undefined && DESCRIPTION_FORBIDDEN.test(description)));
    },
  },
  {
    name: 'invalid-utf8',
    request: 'POST/PUT whose body is not valid UTF-8 (e.g. the bytes `ff fe` inside a JSON string)',
    goAnswer: '201/200, each bad byte stored as U+FFFD',
    ourAnswer: '400 invalid-json',
    why: 'Replacing bytes silently stores something other than what the client sent; JSON text must be UTF-8 (RFC 8259 §8.1).',
    matches: (x) => writes(x) && ok(x.go) && x.ours.status === 400 && problemType(x) !== undefined && !isUtf8(bodyBytes(x)),
  },
  {
    name: 'prototype-keys',
    request: 'POST/PUT whose JSON has a `__proto__` key, or a `constructor` key holding a `prototype` key, at any depth (`{"title":"x","__proto__":{}}`)',
    goAnswer: '201/200 (unknown keys ignored)',
    ourAnswer: '400 invalid-json',
    why: "Fastify's JSON parser refuses them before any handler runs, so no code path can ever merge them into an object's prototype (prototype pollution).",
    matches: (x) => writes(x) && ok(x.go) && invalidJson(x) && hasPrototypeKeys(parsedBody(x)),
  },
  {
    name: 'trailing-data',
    request: 'POST/PUT whose body is a JSON value followed by anything but whitespace (`{"title":"a"}{"title":"b"}`, `{"title":"a"}garbage`)',
    goAnswer: '201/200 from the first value; the rest is ignored',
    ourAnswer: '400 invalid-json',
    why: 'Such a body is not JSON (RFC 8259); half-reading it silently drops data, and which part counts depends on the parser, a classic way for a proxy or WAF to see a different request than the service.',
    matches: (x) => {
      if (!writes(x) || !ok(x.go) || !invalidJson(x)) return false;
      const text = bodyText(x);
      const first = scanJson(text);
      return first !== undefined && !/^[ \t\n\r]*$/.test(text.slice(first.end));
    },
  },
  {
    name: 'case-folded-keys',
    request: 'POST/PUT whose JSON names a field in another case (`{"Title":"x"}`, `{"COMPLETED":"yes"}`)',
    goAnswer: "encoding/json matches keys case-insensitively: `{\"Title\":\"x\"}` is 201, `{\"Completed\":\"yes\"}` a 400",
    ourAnswer: 'the documented lower-case keys only: other keys are unknown and ignored (`{"Title":"x"}` is a 400: no title)',
    why: 'JSON keys are case-sensitive and the contract names them in lower case; case folding makes `{"title":"a","TITLE":"b"}` mean different things to different parsers.',
    matches: (x) => writes(x) && ((ok(x.go) && x.ours.status === 400) || (x.go.status === 400 && ok(x.ours))) && hasCaseFoldedField(x),
  },
  {
    name: 'long-id',
    request: 'An id of more than 100 characters, which only leading zeros can make a number (`/api/todos/000…0003`)',
    goAnswer: 'strconv.Atoi reads it: 200/404',
    ourAnswer: '400 invalid-id (the router bounds a path parameter at 100 characters)',
    why: 'The router bounds the work per path parameter; no client writes an id with a hundred leading zeros.',
    matches: (x) => x.ours.status === 400 && /^\/api\/todos\/[^/]{101,}/.test(pathOf(x.path)),
  },
  {
    name: 'encoded-slash',
    request: 'A path with `%2F` where a separator would route it (`/api/todos%2F3`, `/api%2Ftodos`)',
    goAnswer: 'decodes before routing: the same as `/api/todos/3`',
    ourAnswer: '404 (`%2F` is data, not a separator)',
    why: 'RFC 3986 §2.2: an encoded slash is not a path separator; decoding it before routing lets one URL reach a route that a proxy rule in front saw as another.',
    matches: (x) => refused(x.ours) && ok(x.go) && /%2f/i.test(pathOf(x.path)),
  },
  {
    name: 'completed-filter',
    request: 'GET /api/todos with `completed` other than one `true` or `false` (`?completed=1`, `?completed=TRUE`, `?completed=`, repeated)',
    goAnswer: 'has no filter, ignores it: 200 with every todo',
    ourAnswer: '400 validation-error',
    why: 'The filter is ours; a value we did not understand answered with the unfiltered list would hand the client the wrong todos as if filtered.',
    matches: (x) => isList(x) && ok(x.go) && x.ours.status === 400 && !validCompletedFilter(x),
  },
  {
    name: 'cross-site-write',
    request: 'A write from another site in a browser (`Origin` not allowed, or `Sec-Fetch-Site: cross-site`)',
    goAnswer: '201/200',
    ourAnswer: '403 cross-site-request',
    why: 'A page on any site could otherwise create or delete todos with a "simple" request (text/plain form posts need no preflight).',
    matches: (x) => !['GET', 'HEAD', 'OPTIONS'].includes(x.method) && x.ours.status === 403 && (header(x, 'origin') !== undefined || header(x, 'sec-fetch-site') === 'cross-site'),
  },
  {
    name: 'if-match',
    request: 'PUT/PATCH/DELETE of an existing todo with an If-Match that names another version (`"0.0"`, a weak tag, garbage)',
    goAnswer: 'ignores the header: 200',
    ourAnswer: '412 precondition-failed, with the current ETag',
    why: 'If-Match is a compare-and-set (RFC 9110 §13.1.1): the write of a client that read an older version must not overwrite a newer one.',
    matches: (x) => ['PUT', 'PATCH', 'DELETE'].includes(x.method) && header(x, 'if-match') !== undefined && x.ours.status === 412 && ok(x.go),
  },
  {
    name: 'idempotency-key',
    request: 'A write with an Idempotency-Key that is malformed (empty, not visible ASCII, over 255 characters)',
    goAnswer: 'ignores the header: 201/200',
    ourAnswer: '400 validation-error',
    why: 'The key names one request for a day (draft-ietf-httpapi-idempotency-key-header); a key we cannot store exactly cannot protect the retry.',
    matches: (x) => header(x, 'idempotency-key') !== undefined && x.ours.status === 400 && ok(x.go) && problemType(x) === 'urn:todo-service:problem:validation-error',
  },
  // -- Wider: Go refuses, we answer ------------------------------------------------------------------------
  {
    name: 'if-none-match',
    request: 'GET /api/todos/{id} with If-None-Match naming its current version or `*`',
    goAnswer: 'ignores the header: 200 with the body',
    ourAnswer: '304 without a body',
    why: 'A conditional GET (RFC 9110 §13.1.2): a client that has the current version need not download it again.',
    matches: (x) => x.method === 'GET' && header(x, 'if-none-match') !== undefined && x.ours.status === 304 && ok(x.go),
  },
  {
    name: 'head',
    request: 'HEAD on any GET route (`HEAD /api/todos`)',
    goAnswer: '404 (gin routes no HEAD)',
    ourAnswer: '200 with the GET headers, no body',
    why: 'RFC 9110 §9.3.2: a resource that answers GET answers HEAD.',
    matches: (x) => x.method === 'HEAD' && x.go.status === 404 && ok(x.ours),
  },
  {
    name: 'patch',
    request: 'PATCH /api/todos/{id}',
    goAnswer: '404 (no such route)',
    ourAnswer: "200/4xx with PUT's rules (PUT is already a partial update)",
    why: 'The usual method for a partial update, added with exactly the rules of PUT.',
    matches: (x) => x.method === 'PATCH' && x.go.status === 404 && ok(x.ours),
  },
  {
    name: 'own-endpoints',
    request: 'GET/HEAD /livez, /readyz, /metrics/json, /openapi.json, /openapi.yaml, /docs, /docs/static/…',
    goAnswer: '404',
    ourAnswer: '200',
    why: 'Probes, runtime metrics and the API document: the production story around the contract.',
    matches: (x) => (x.method === 'GET' || x.method === 'HEAD') && x.go.status === 404 && ok(x.ours) && /^\/(livez|readyz|metrics\/json|openapi\.(json|yaml)|docs)(\/|$)/.test(pathOf(x.path)),
  },
  {
    name: 'trailing-slash',
    request: 'A route with one trailing slash (`/api/todos/`, `/api/todos/3/`, `/health/`)',
    goAnswer: '301 (GET) or 307 to the path without the slash',
    ourAnswer: 'the route itself, as without the slash',
    why: 'Serving it directly saves the round trip; a client that follows the redirect gets the same answer from both.',
    matches: (x) => {
      if (statusClass(x.go) !== '3xx' || !/.\/$/.test(pathOf(x.goPath))) return false;
      const location = String(x.go.headers.location ?? '');
      return pathOf(location) === pathOf(x.goPath).slice(0, -1);
    },
  },
  {
    name: 'options',
    request: 'OPTIONS that is not a CORS preflight, without an `Origin` (`OPTIONS /api/todos`)',
    goAnswer: '404 (no OPTIONS route)',
    ourAnswer: '204',
    why: 'RFC 9110 §9.3.7: OPTIONS asks what the resource supports; the answer names the methods.',
    matches: (x) => x.method === 'OPTIONS' && x.go.status === 404 && ok(x.ours),
  },
  {
    name: 'byte-order-mark',
    request: 'POST/PUT whose body starts with a UTF-8 byte order mark',
    goAnswer: '400 (invalid character)',
    ourAnswer: 'the BOM is skipped: 201/200',
    why: 'RFC 8259 §8.1 lets a parser ignore it; editors on Windows write one.',
    matches: (x) => writes(x) && x.go.status === 400 && ok(x.ours) && bodyBytes(x).subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])),
  },
  {
    name: 'duplicate-keys',
    request: 'POST/PUT whose JSON repeats a key and an earlier occurrence has a wrong type (`{"completed":"x","completed":true}`)',
    goAnswer: '400 (it reports a type error of any occurrence)',
    ourAnswer: 'the last occurrence counts, as in JSON.parse: 201/200',
    why: 'The last value wins for both services when all occurrences are valid; ours only looks at the one it keeps.',
    matches: (x) => writes(x) && x.go.status === 400 && ok(x.ours) && scanJson(bodyText(x).replace(/^\uFEFF/, ''))?.duplicateKeys === true,
  },
];

export type Verdict =
  | { kind: 'agree' }
  | { kind: 'go-5xx' }
  | { kind: 'deviation'; name: string }
  | { kind: 'unexplained' };

/** Compares the two answers of one exchange. */
export function judge(x: Exchange): Verdict {
  if (statusClass(x.go) === '5xx') return { kind: 'go-5xx' };
  if (statusClass(x.go) === statusClass(x.ours)) return { kind: 'agree' };
  const deviation = DIFFERENTIAL_DEVIATIONS.find((d) => d.matches(x));
  if (deviation) return { kind: 'deviation', name: deviation.name };
  return { kind: 'unexplained' };
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const clip = (s: string, n = 300) => (s.length > n ? `${JSON.stringify(s.slice(0, n))}… (${s.length} characters)` : JSON.stringify(s));

/** A curl command that replays the request against a server at $BASE (bodies over 2 KB are described). */
export function curlOf(x: Pick<Exchange, 'method' | 'path' | 'headers' | 'body'>): string {
  const parts = [`curl -sS -i -X ${x.method}`, `"$BASE"${shellQuote(x.path)}`];
  for (const [k, v] of Object.entries(x.headers)) parts.push(`-H ${shellQuote(`${k}: ${v}`)}`);
  const bytes = bodyBytes(x);
  if (x.body !== undefined && bytes.length <= 2048) {
    const text = bytes.toString('utf8');
    if (isUtf8(bytes) && !/\p{Cc}/u.test(text)) parts.push(`--data-binary ${shellQuote(text)}`);
    else parts.push(`--data-binary @<(printf %b ${shellQuote([...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join(''))})`);
  } else if (x.body !== undefined) {
    parts.push(`--data-binary @body-of-${bytes.length}-bytes`);
  }
  return parts.join(' ');
}

/** The whole exchange, for a failure message. */
export function describeExchange(x: Exchange): string {
  const bytes = bodyBytes(x);
  const body = x.body === undefined ? '(none)' : Buffer.isBuffer(x.body) ? `bytes ${clip(bytes.toString('hex'))}` : clip(x.body);
  const answer = (a: Answer, cut: string) => (a.cutOff ? cut : `${a.status} ${clip(a.text)}`);
  return [
    `${x.method} ${x.path}${x.goPath !== x.path ? `  (to Go: ${x.goPath})` : ''}  [${x.kind}]`,
    `  headers: ${JSON.stringify(x.headers)}`,
    `  body (${bytes.length} bytes): ${body}`,
    `  ours: ${answer(x.ours, 'connection reset while the body was still being sent (after its 413)')}`,
    `  Go:   ${answer(x.go, 'connection reset while the body was still being sent (answer unknown)')}`,
    `  replay: ${curlOf(x)}`,
  ].join('\n');
}
