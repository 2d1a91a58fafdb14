import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parse, stringify } from 'yaml';

/**
 * A loopback TCP proxy in front of the API server that a test can cut and restore: a network
 * partition between one client and the server, while the server and other clients carry on.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Each open connection's two ends, for freeze() and thaw(). */
  private readonly pairs = new Set<[Socket, Socket]>();
  private up = true;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (!this.up) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Drops every open connection and refuses new ones. */
  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  /**
   * Stops forwarding on every open connection, both ways, without closing any: a peer that went
   * silent (a stalled proxy, a lost route) rather than one that hung up. Bytes sent meanwhile wait
   * unread; new connections still pass.
   */
  freeze(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Forwards again on the connections freeze() stopped, with the bytes held meanwhile. */
  thaw(): void {
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** Starts a proxy to the kubeconfig's server and writes a kubeconfig that goes through it. */
export async function proxiedKubeconfig(
  t: TestContext,
  kubeconfig: string,
): Promise<{ proxy: TcpProxy; kubeconfig: string }> {
  const doc = parse(await readFile(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  const server = new URL(doc.clusters[0]!.cluster.server);
  const proxy = new TcpProxy({ host: server.hostname, port: Number(server.port) });
  await proxy.start();
  t.after(() => proxy.stop());
  for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${proxy.port}`;
  const path = join(await mkdtemp(join(tmpdir(), 'tutti-proxy-')), 'kubeconfig');
  await writeFile(path, stringify(doc));
  return { proxy, kubeconfig: path };
}
