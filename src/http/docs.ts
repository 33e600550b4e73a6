// The docs page: Swagger UI, every file served by the service itself from the swagger-ui-dist package (no
// CDN), under a Content-Security-Policy that allows nothing from elsewhere and no inline script or style.
// The files are streamed from disk on request, so the page costs the service no memory until someone opens it.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import swaggerUiPath from 'swagger-ui-dist/absolute-path.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

export function addDocsPage(app: FastifyInstance): void {
  const dir = swaggerUiPath();
  const hidden = { hide: true };

  app.get('/docs', { schema: hidden }, (_req, reply) => reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(PAGE));
  app.get('/docs/static/init.js', { schema: hidden }, (_req, reply) =>
    reply.header('content-security-policy', CSP).type('text/javascript; charset=utf-8').send(INIT),
  );
  app.get<{ Params: { file: string } }>('/docs/static/:file', { schema: hidden }, (req, reply) => {
    const type = FILES[req.params.file];
    if (!type) return reply.callNotFound();
    return reply
      .header('content-security-policy', CSP)
      .header('cache-control', 'public, max-age=86400')
      .type(type)
      .send(createReadStream(join(dir, req.params.file)));
  });
}
