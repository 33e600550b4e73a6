// A TCP proxy the tests put between the service and PostgreSQL or Redis, to cause outages on demand:
// `down()` refuses connections and cuts the open ones (the database restarting), `blackhole()` accepts but
// forwards nothing (a network partition), `up()` restores normal service on the same port.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  down: () => Promise<void>;
  blackhole: () => void;
  up: () => Promise<void>;
  close: () => Promise<void>;
}

export async function startProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let mode: 'up' | 'blackhole' = 'up';
  let server: Server;
  let port = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        track(client);
        if (mode === 'blackhole') return; // hold the connection, say nothing
        const upstream = connect(targetPort, targetHost);
        track(upstream);
        client.pipe(upstream).pipe(client);
        const pair: [Socket, Socket] = [client, upstream];
        pairs.add(pair);
        upstream.on('close', () => client.destroy());
        client.on('close', () => {
          upstream.destroy();
          pairs.delete(pair);
        });
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  const cutAll = () => {
    for (const s of sockets) s.destroy();
  };

  await listen();
  return {
    get port() {
      return port;
    },
    down: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        cutAll();
      });
    },
    blackhole: () => {
      mode = 'blackhole';
      // Open connections go silent too: bytes are no longer carried in either direction.
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    up: async () => {
      if (mode === 'blackhole') cutAll(); // connections that went silent are dead to both ends now
      mode = 'up';
      if (!server.listening) await listen();
    },
    close: async () => {
      cutAll();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
