// Requests read the way the Go reference reads them, so that what its clients send keeps working; where we
// are stricter on purpose, docs/DECISIONS.md ("Deliberate strictness vs the Go service") says so.
import { parse as parseQuery } from 'node:querystring';
import type { FastifyInstance } from 'fastify';
import { HttpProblem, ProblemType } from './problem.js';

/**
 * Requests read as the Go reference reads them (docs/DECISIONS.md, "Deliberate strictness" lists where we differ):
 * - bodies are JSON whatever the Content-Type says (curl -d sends a form type), and a Content-Type that is not a
 *   media type at all is ignored rather than a 415;
 * - only routes that take a body parse one: a DELETE's body is read, bounded, and dropped; an empty body is no
 *   body (client wrappers send `Content-Type: application/json` on every request); a JSON `null` is `{}`;
 * - bytes that are not UTF-8 are refused (400) rather than stored as U+FFFD;
 * - a repeated query key counts once, by its first value;
 * - the asterisk request target is for OPTIONS only (RFC 9112 §3.2.4).
 */
export function readRequestsLikeGo(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (body.length === 0 || req.routeOptions.schema?.body === undefined) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return done(new HttpProblem({ status: 400, type: ProblemType.invalidJson, title: 'Invalid JSON', detail: 'The request body is not valid UTF-8.' }), undefined);
    }
    void parseJson(req, text, (error, value) => done(error, value === null ? {} : value));
  });
  app.addHook('onRequest', (req, _reply, done) => {
    const type = req.headers['content-type'];
    if (type !== undefined && !isMediaType(type)) delete req.headers['content-type'];
    if (req.raw.url?.startsWith('*') && req.method !== 'OPTIONS') {
      return done(new HttpProblem({ status: 400, detail: 'The asterisk request target is only for OPTIONS.' }));
    }
    done();
  });
}

const TOKEN = /^[\w!#$%&'*+.^`|~-]+$/;
const PARAMETER_VALUE = /^(?:"[^"]*"|[\w!#$%&'*+.^`|~-]+)$/;

/**
 * `type/subtype` and optional `; name=value` parameters: a Content-Type Fastify can read (anything else is
 * dropped). Split and checked piece by piece, in linear time: a single regular expression with optional
 * whitespace on both sides of an optional `;` backtracks quadratically (0.5 s for 16 KiB of spaces).
 */
export function isMediaType(value: string): boolean {
  const [type = '', ...parameters] = value.split(';');
  const [main = '', sub = '', ...more] = type.trim().split('/');
  if (more.length > 0 || !TOKEN.test(main) || !TOKEN.test(sub)) return false;
  return parameters.every((parameter) => {
    const p = parameter.trim();
    const eq = p.indexOf('=');
    return p === '' || (eq > 0 && TOKEN.test(p.slice(0, eq)) && PARAMETER_VALUE.test(p.slice(eq + 1)));
  });
}

/** Go's `c.Query`: the first value of a repeated key. node:querystring's objects have no prototype. */
export function firstValues(query: string): Record<string, unknown> {
  const parsed = parseQuery(query);
  for (const key in parsed) {
    const value = parsed[key];
    if (Array.isArray(value)) parsed[key] = value[0];
  }
  return parsed;
}

