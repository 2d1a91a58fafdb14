import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on host:port (0 picks a free port); resolves with the bound port, rejects on EADDRINUSE & co. */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Closes the server now, cutting idle keep-alive and long-lived (watch, SSE) connections too. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Stops a server without cutting the requests it has accepted; see drainable(). */
export type Drain = (graceMs: number) => Promise<void>;

/**
 * Lets a server stop gracefully, for one whose requests carry accepted work (a write it must answer):
 * the returned drain stops accepting connections, closes idle keep-alive ones, lets the requests
 * under way finish — each then closing its connection — for up to `graceMs`, and cuts what is left.
 * Call it before the server takes requests, so that it knows which are under way.
 */
export function drainable(server: Server): Drain {
  const underway = new Set<ServerResponse>();
  let draining = false;
  // A connection must not be kept alive for another request once its response is done.
  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close');
    else {
      const socket = res.socket;
      res.once('finish', () => socket?.end());
    }
  };
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    underway.add(res);
    res.once('close', () => underway.delete(res));
    if (draining) closeAfter(res);
  });
  return async (graceMs) => {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const res of underway) closeAfter(res);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([closed, expired]);
    clearTimeout(timer);
    server.closeAllConnections();
    await closed;
  };
}
