// Schemas of the service's own endpoints: `GET /` (service info) and `GET /health`.
import Type from 'typebox';
import { problemResponses } from '../http/problem.js';

const Timestamp = Type.String({ format: 'date-time' });

export const InfoRoute = {
  operationId: 'getServiceInfo',
  summary: 'Service information and the list of endpoints',
  tags: ['service'],
  description:
    'What runs: version, environment, Node.js version, platform, uptime and memory, and every endpoint of the API ' +
    'with what it does (generated from the registered routes).',
  response: {
    200: Type.Object({
      message: Type.String(),
      version: Type.String(),
      environment: Type.String(),
      runtime: Type.String({ description: 'The Node.js version.', examples: ['v24.11.0'] }),
      platform: Type.String({ description: 'os/arch', examples: ['linux/x64'] }),
      uptime: Type.String({ description: 'Go duration format, as the reference prints it.', examples: ['1h2m3.5s'] }),
      uptime_seconds: Type.Number(),
      memory: Type.Record(Type.String(), Type.Integer()),
      timestamp: Timestamp,
      endpoints: Type.Record(Type.String(), Type.String(), {
        description: '"METHOD path" → what it does, generated from the registered routes.',
      }),
    }, { description: 'The service and its endpoints.' }),
    ...problemResponses(429, 503),
  },
};

export const HealthRoute = {
  operationId: 'getHealth',
  summary: 'Health and build information',
  tags: ['service'],
  description:
    "The Go reference's health check: always `healthy` while the process answers, with uptime, memory and the " +
    'build (git commit, commit time, dirty flag). It checks no dependency: for that, see `/readyz`.',
  response: {
    200: Type.Object({
      status: Type.Literal('healthy'),
      timestamp: Timestamp,
      uptime: Type.String(),
      uptime_seconds: Type.Number(),
      version: Type.String(),
      runtime: Type.String(),
      memory: Type.Object({
        rss_mb: Type.Number(),
        heap_used_mb: Type.Number(),
        heap_total_mb: Type.Number(),
      }),
      build: Type.Object({
        commit: Type.String(),
        commit_time: Type.String(),
        dirty: Type.Union([Type.Boolean(), Type.Literal('unknown')]),
      }),
    }, { description: 'Healthy, and what runs.' }),
  },
};
