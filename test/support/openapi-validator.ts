// Checks every response the test suite receives against the OpenAPI document of the service that sent it.
// test/support/helpers.ts `http()` calls checkResponse() after each request, so the whole suite doubles as a
// conformance test of the document: an undocumented status, a content type the operation does not declare,
// or a body that breaks the schema of its operation and status fails the test that received it.
//
// Rules, in order:
// - OPTIONS requests are CORS preflights, answered by the CORS layer for every path: outside the document.
// - The document itself and its docs page (/openapi.json, /openapi.yaml, /docs…) are not API operations:
//   their successful answers are not checked.
// - A request that matches no operation of the document (unknown path, wrong method) must be answered with
//   a 4xx/5xx problem (application/problem+json, the Problem schema): the router's 404 and 405.
// - Otherwise the status must be documented for the operation (exactly, as `4XX`, or by `default`), the
//   content type must be one the response declares, and a JSON body must match its schema (Ajv, JSON Schema
//   2020-12 as OpenAPI 3.1 uses). HEAD is checked as the GET of the same path, without a body.
// - A listener that serves no document (the management port) has no operations: only the problem rule holds.
//
// The document is fetched once per base URL, over HTTP, as any client would.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

type Json = Record<string, unknown>;

interface MediaType {
  schema?: Json;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}
interface OperationObject {
  operationId?: string;
  responses?: Record<string, ResponseObject>;
  parameters?: { name: string; in: string; required?: boolean; schema?: Json }[];
  requestBody?: { required?: boolean; content?: Record<string, MediaType> };
}

/** One operation of the document: where it is and what it answers. */
export interface Operation {
  operationId: string;
  method: string;
  /** The path as the document writes it: `/api/todos/{id}`. */
  template: string;
  pattern: RegExp;
  pointer: string;
  object: OperationObject;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const DOC_ID = 'urn:todo-service:openapi';
const DOCS_PAGES = /^\/(openapi\.(json|yaml)|docs)(\/|$)/;

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function templatePattern(template: string): RegExp {
  const source = template
    .split('/')
    .map((part) => (/^\{[^}]+\}$/.test(part) ? '[^/]+' : escapeRegExp(part)))
    .join('/');
  // The router ignores one trailing slash (ignoreTrailingSlash), so the document's paths match with one too.
  return new RegExp(`^${source}/?$`);
}

export const mediaTypeOf = (contentType: string | null) => (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

export class OpenApiDocument {
  readonly operations: Operation[] = [];
  private readonly ajv = new Ajv2020({ allErrors: true, strict: true, validateSchema: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly document: Json) {
    // OpenAPI's own keywords may sit inside its schemas; they annotate, they do not validate.
    this.ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
    formats.default(this.ajv);
    // The shared schemas under one id; references to them are rewritten to point there (see errorsAt).
    const components = (document.components ?? {}) as { schemas?: Json };
    this.ajv.addSchema({ $id: DOC_ID, $defs: rewriteRefs(components.schemas ?? {}) });
    const paths = (document.paths ?? {}) as Record<string, Record<string, OperationObject>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const object = item[method];
        if (!object) continue;
        this.operations.push({
          operationId: object.operationId ?? `${method} ${template}`,
          method: method.toUpperCase(),
          template,
          pattern: templatePattern(template),
          pointer: `#/paths/${escapePointer(template)}/${method}`,
          object,
        });
      }
    }
  }

  /** The operation a request goes to, by method and concrete path (no query). */
  find(method: string, pathname: string): Operation | undefined {
    return this.operations.find((op) => op.method === method && op.pattern.test(pathname));
  }

  byId(operationId: string): Operation {
    const op = this.operations.find((o) => o.operationId === operationId);
    if (!op) throw new Error(`the document has no operation ${operationId}`);
    return op;
  }

  /** Validates a value against the schema at a JSON pointer of the document; returns the errors, or []. */
  errorsAt(pointer: string, value: unknown): string[] {
    let validate = this.validators.get(pointer);
    if (!validate) {
      const schema = resolvePointer(this.document, pointer);
      if (typeof schema !== 'object' || schema === null) throw new Error(`no schema at ${pointer}`);
      validate = this.ajv.compile(rewriteRefs(schema));
      this.validators.set(pointer, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'} ${JSON.stringify(e.params)}`);
  }
}

/** The value at a JSON pointer (`#/a/b~1c`) of a document. */
function resolvePointer(root: unknown, pointer: string): unknown {
  return pointer
    .replace(/^#\/?/, '')
    .split('/')
    .filter((part) => part !== '')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Json)[key] : undefined), root);
}

/** A copy of a schema whose `#/components/schemas/X` references point at the shared schemas Ajv knows. */
function rewriteRefs<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((item) => rewriteRefs(item) as unknown) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')
        ? `${DOC_ID}#/$defs/${value.slice('#/components/schemas/'.length)}`
        : rewriteRefs(value),
    ]),
  ) as T;
}

export interface Exchange {
  method: string;
  /** The path as the server received it, without the query (not normalized: `/a/..` stays). */
  path: string;
  query: string;
  status: number;
  contentType: string | null;
  /** The parsed JSON body, or the text for other media types. */
  body: unknown;
  text: string;
}

const PROBLEM_POINTER = '#/components/schemas/Problem';

/** Throws an Error that says what does not match, or returns the operation that was checked (if any). */
export function checkExchange(doc: OpenApiDocument | undefined, ex: Exchange): Operation | undefined {
  const method = ex.method.toUpperCase();
  const where = `${method} ${ex.path}${ex.query ? `?${ex.query}` : ''} → ${ex.status}`;
  const fail = (why: string): never => {
    throw new Error(`response does not match the OpenAPI document: ${where}: ${why}\nbody: ${ex.text.slice(0, 500)}`);
  };
  if (method === 'OPTIONS') return undefined;
  if (DOCS_PAGES.test(ex.path) && ex.status < 400) return undefined;

  const mediaType = mediaTypeOf(ex.contentType);
  // Node's HTTP parser refuses some requests before any route is found (408, 431, a malformed request: problems
  // with an empty `instance`, since no path was read): those are problems outside every operation.
  // (A HEAD answer has no body to tell: a 400 to HEAD is taken as one of those.)
  const beforeRouting =
    ex.status === 408 || ex.status === 431 || (ex.status === 400 && (method === 'HEAD' || (ex.body as { instance?: unknown } | null)?.instance === ''));
  const op = beforeRouting ? undefined : doc?.find(method === 'HEAD' ? 'GET' : method, ex.path);
  if (!op) {
    if (ex.status < 400) fail(`the document has no operation for ${method} ${ex.path}`);
    if (method === 'HEAD') return undefined;
    if (mediaType !== 'application/problem+json') fail(`an error outside any operation must be application/problem+json, not "${ex.contentType}"`);
    const errors = doc ? doc.errorsAt(PROBLEM_POINTER, ex.body) : problemShapeErrors(ex.body);
    if (errors.length > 0) fail(`not a Problem: ${errors.join('; ')}`);
    return undefined;
  }

  const responses = op.object.responses ?? {};
  const key = [String(ex.status), `${String(ex.status)[0]}XX`, 'default'].find((k) => responses[k] !== undefined);
  if (key === undefined) fail(`status ${ex.status} is not documented for ${op.operationId} (documented: ${Object.keys(responses).join(', ')})`);
  const response = responses[key!]!;
  if (method === 'HEAD' || ex.status === 204 || ex.status === 304) return op;

  const content = response.content ?? {};
  if (Object.keys(content).length === 0) {
    if (ex.text !== '') fail(`${op.operationId} ${key} documents no body, but one came`);
    return op;
  }
  if (!(mediaType in content)) fail(`content type "${ex.contentType}" is not documented for ${op.operationId} ${key} (documented: ${Object.keys(content).join(', ')})`);
  if (!isJson(mediaType) || content[mediaType]!.schema === undefined) return op;
  const pointer = `${op.pointer}/responses/${escapePointer(key!)}/content/${escapePointer(mediaType)}/schema`;
  const errors = doc!.errorsAt(pointer, ex.body);
  if (errors.length > 0) fail(`the body breaks the schema of ${op.operationId} ${key}: ${errors.join('; ')}`);
  return op;
}

/** The Problem members every problem body has, for a listener without a document. */
function problemShapeErrors(body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return ['not an object'];
  const p = body as Json;
  const errors = ['type', 'title', 'detail', 'instance', 'error', 'timestamp', 'request_id'].filter((k) => typeof p[k] !== 'string').map((k) => `${k} is not a string`);
  if (!Number.isInteger(p.status)) errors.push('status is not an integer');
  return errors;
}

// ---- the document of each base URL ---------------------------------------------------------------------------

const documents = new Map<string, Promise<OpenApiDocument | undefined>>();

/** The document a base URL serves at /openapi.json (fetched once), or undefined when it serves none. */
export function documentFor(base: string): Promise<OpenApiDocument | undefined> {
  let doc = documents.get(base);
  if (!doc) {
    doc = (async () => {
      const res = await fetch(`${base}/openapi.json`);
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (res.status !== 200) throw new Error(`GET ${base}/openapi.json: ${res.status} ${await res.text()}`);
      return new OpenApiDocument((await res.json()) as Json);
    })();
    // A failed fetch is not cached: the next request tries again.
    doc.catch(() => documents.delete(base));
    documents.set(base, doc);
  }
  return doc;
}

/** Forgets the document of a base URL (a stopped service's port may be reused by another one). */
export function forgetDocument(base: string): void {
  documents.delete(base);
}

/** The path and query of a URL, split as a server receives them. */
export function splitTarget(target: string): { path: string; query: string } {
  const at = target.indexOf('?');
  return at === -1 ? { path: target, query: '' } : { path: target.slice(0, at), query: target.slice(at + 1) };
}

/** Checks one exchange against the document of the base URL it went to. */
export async function checkResponse(base: string, ex: Exchange): Promise<void> {
  checkExchange(await documentFor(base), ex);
}
