// The docs page: Swagger UI, every file served by the service itself from the swagger-ui-dist package (no
// CDN), under the Content-Security-Policy of every response (src/http/protection.ts), which allows nothing from
// elsewhere and no inline script or style. The package's files are served by @fastify/static, streamed from
// disk on request (the page costs no memory until someone opens it), and only the three the page needs.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import swaggerUiPath from 'swagger-ui-dist/absolute-path.js';

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Todo service — API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/init.js"></script>
</body>
</html>
`;

// Runs in the browser; a file (not inline) so that the CSP needs no 'unsafe-inline'.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: true,
  displayOperationId: true,
  validatorUrl: null,
});
`;

/** The package's files the page loads; any other name under /docs/static/ is a 404. */
const ASSETS = new Set(['/swagger-ui.css', '/swagger-ui-bundle.js', '/favicon-32x32.png']);

export async function addDocsPage(app: FastifyInstance): Promise<void> {
  const hidden = { hide: true };
  app.get('/docs', { schema: hidden }, (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.get('/docs/static/init.js', { schema: hidden }, (_req, reply) => reply.type('text/javascript; charset=utf-8').send(INIT));
  await app.register(fastifyStatic, {
    root: swaggerUiPath(),
    prefix: '/docs/static/',
    decorateReply: false,
    index: false,
    list: false,
    allowedPath: (path) => ASSETS.has(path),
    maxAge: '1d',
  });
}
