// `node dist/main.cjs healthcheck`: the container HEALTHCHECK of an image that has no curl. Exits 0 when
// /livez on this container's management port (or API port) answers 200 within two seconds, else 1.
import { request } from 'node:http';
import { loadConfig, withDotEnv } from './config.js';

export function healthcheckCommand(): void {
  let port: number;
  try {
    const config = loadConfig(withDotEnv(process.env));
    port = config.managementPort ?? config.port;
  } catch (error) {
    process.stderr.write(`healthcheck: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
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
}
