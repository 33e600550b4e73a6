// The Go reference service (../shared/reference/go-gin-seed beside the project) as a child process, for the
// differential fuzz. GO_REFERENCE_BIN names the built binary (.ci/run builds it when the reference's sources are
// beside the project and exports the path). The Go service keeps its todos in memory: a new process, a new state.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

export interface GoReference {
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** Why the differential fuzz cannot run here, or undefined when it can. */
export function goReferenceUnavailable(): string | undefined {
  const bin = process.env.GO_REFERENCE_BIN;
  if (!bin) return 'GO_REFERENCE_BIN is not set (.ci/run sets it when ../shared/reference/go-gin-seed is beside the project)';
  return undefined;
}

/** A port free on 127.0.0.1 right now (the Go service takes its port from PORT; it cannot be handed 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts the Go reference on a free port (GIN_MODE=release) and waits until it answers /health. */
export async function startGoReference(bin = process.env.GO_REFERENCE_BIN ?? ''): Promise<GoReference> {
  if (!existsSync(bin)) throw new Error(`GO_REFERENCE_BIN=${bin}: no such file (build it with shared/reference/go-gin-seed/build.sh)`);
  let lastError = '';
  // Another process may take the free port between the probe and Go's listen: Go then exits, and we retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(bin, [], { env: { PATH: process.env.PATH, PORT: String(port), GIN_MODE: 'release' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const started = Date.now();
    while (child.exitCode === null && child.signalCode === null && Date.now() - started < 10_000) {
      const healthy = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      // Healthy and still running a moment later: the answer came from this process, not from whoever else
      // holds the port (Go exits at once when it cannot listen).
      if (healthy) await new Promise((r) => setTimeout(r, 100));
      if (healthy && child.exitCode === null) {
        const stop = async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        };
        return { url, child, stop };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    lastError = stderr.trim().split('\n').slice(-3).join(' | ');
  }
  throw new Error(`the Go reference did not start: ${lastError}`);
}
