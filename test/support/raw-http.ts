// Raw TCP conversations with the service, for what fetch cannot do: a body that never comes, headers sent a
// byte at a time, an idle kept-alive connection, a request line Node's parser refuses.
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received: () => string;
  /** Resolves when the server closes the connection, with the milliseconds since connect. */
  closed: Promise<number>;
  send: (data: string | Buffer) => void;
  destroy: () => void;
}

/** Opens a TCP connection to the service at `url` (http://host:port) and records what comes back. */
export async function openRaw(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  const chunks: Buffer[] = [];
  const started = performance.now();
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined); // a reset is a close like any other here
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - started)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    received: () => Buffer.concat(chunks).toString('utf8'),
    closed,
    send: (data) => void socket.write(data),
    destroy: () => socket.destroy(),
  };
}

/** Sends raw bytes on a new connection and waits for the server to close it (or `timeoutMs`). */
export async function rawExchange(url: string, data: string | Buffer, timeoutMs = 5000): Promise<{ text: string; closedAfterMs: number | undefined }> {
  const conn = await openRaw(url);
  conn.send(data);
  const closedAfterMs = await Promise.race([conn.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref())]);
  const text = conn.received();
  conn.destroy();
  return { text, closedAfterMs };
}

/** Splits a raw HTTP/1.1 response into status, lower-cased headers and body. */
export function parseResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: end === -1 ? '' : text.slice(end + 4) };
}
