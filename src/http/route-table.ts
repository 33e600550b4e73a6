// Watches route registration (Fastify's onRoute hook) and answers two questions from it: which endpoints the
// service has (for `GET /`), and which methods a path allows (for 405 + Allow). Nothing is kept by hand.
import type { FastifyInstance, RouteOptions } from 'fastify';

interface Entry {
  method: string;
  url: string;
  summary: string;
  pattern: RegExp;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: RouteTable;
  }
}

export interface RouteTable {
  /** "METHOD path" → summary for every public route; HEAD and OPTIONS are implied and left out. */
  endpoints: () => Record<string, string>;
  /** Methods registered for a concrete request path, or [] when no route has that path. */
  allowedMethods: (path: string) => string[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function toPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : escape(part)))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

export function trackRoutes(app: FastifyInstance): RouteTable {
  const entries: Entry[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.url.includes('*')) return; // catch-alls (the CORS preflight) are no resource of ours
    const schema = (route.schema ?? {}) as { summary?: string; hide?: boolean };
    if (schema.hide) return;
    for (const method of [route.method].flat()) {
      entries.push({ method, url: route.url, summary: schema.summary ?? '', pattern: toPattern(route.url) });
    }
  });

  let endpoints: Record<string, string> | undefined;
  return {
    endpoints: () => {
      endpoints ??= Object.fromEntries(
        entries.filter((e) => e.method !== 'HEAD' && e.method !== 'OPTIONS').map((e) => [`${e.method} ${e.url}`, e.summary]),
      );
      return endpoints;
    },
    allowedMethods: (path) => {
      const methods = new Set(entries.filter((e) => e.pattern.test(path)).map((e) => e.method));
      return [...methods];
    },
  };
}
