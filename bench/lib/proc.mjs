// Process control for the benchmark: CPU pinning with taskset, free ports, starting a server (stdout to
// /dev/null, stderr to a log file) and timing spawn → first 200 on GET /health, stopping it again.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { waitHealthy } from './http.mjs';

export const SERVER_CPU = '0';
export const LOADGEN_CPU = '1';

let tasksetAvailable;

/** True if `taskset` (util-linux) can be run. */
export function hasTaskset() {
  if (tasksetAvailable === undefined) {
    tasksetAvailable = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  }
  return tasksetAvailable;
}

/** [command, args] prefixed with `taskset -c <cpu>` when taskset exists. */
export function pinned(cpu, command, args) {
  return hasTaskset() ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

/** Moves every thread of this (orchestrator) process to `cpu`, away from the server's core. */
export function pinSelf(cpu) {
  if (!hasTaskset()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', cpu, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server pinned to the server CPU and waits for its first 200 on GET /health.
 * @param {{ command: string, args: string[], env: object, cwd?: string, logFile: string, port: number }} launch
 * @returns {Promise<{ child, pid, base, startupMs, logFile, exited: () => boolean }>}
 */
export async function startServer({ command, args, env, cwd, logFile, port }) {
  const base = `http://127.0.0.1:${port}`;
  const [cmd, cmdArgs] = pinned(SERVER_CPU, command, args);
  const errFd = openSync(logFile, 'a');
  let exitInfo = null;
  const t0 = performance.now();
  // taskset execs the server, so the child's pid is the server's pid.
  const child = spawn(cmd, cmdArgs, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', errFd] });
  closeSync(errFd);
  const exitedPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.on('error', (err) => {
      exitInfo = { code: null, signal: null, error: err };
      resolve(exitInfo);
    });
  });
  const server = { child, pid: child.pid, base, logFile, exitedPromise, exited: () => exitInfo !== null, exitInfo: () => exitInfo };
  try {
    const healthyAt = await waitHealthy(base, { exited: server.exited });
    server.startupMs = healthyAt - t0;
  } catch (err) {
    await stopServer(server);
    const exit = exitInfo && !exitInfo.error ? ` (exit code ${exitInfo.code}${exitInfo.signal ? `, ${exitInfo.signal}` : ''})` : '';
    throw new Error(`${err.message}${exit}; stderr tail: ${tail(logFile)}`);
  }
  return server;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
export async function stopServer(server, graceMs = 5000) {
  if (server.exited()) return server.exitInfo();
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  const info = await server.exitedPromise;
  clearTimeout(timer);
  return info;
}

/** The last few lines of a log file, on one line (for error messages). */
export function tail(file, lines = 5) {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text ? text.split('\n').slice(-lines).join(' | ') : '(empty)';
  } catch {
    return '(no log)';
  }
}
