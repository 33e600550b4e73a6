// `node dist/healthcheck.cjs`: the container HEALTHCHECK of an image that has no curl. Exits 0 when /livez on
// this container's management port (or API port) answers 200 within two seconds, else 1. It is its own tiny
// bundle on purpose: a second copy of the whole service beside the first would need
// its own ~40 MB of heap and code in the same container memory limit.
import { request } from 'node:http';

const port = Number(process.env.MANAGEMENT_PORT || process.env.PORT || 8080);
const req = request({ host: '127.0.0.1', port, path: '/livez', timeout: 2000 }, (res) => {
  res.resume();
  process.exitCode = res.statusCode === 200 ? 0 : 1;
});
req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
req.on('error', (error) => {
  process.stderr.write(`healthcheck: ${error.message}\n`);
  process.exitCode = 1;
});
req.end();
