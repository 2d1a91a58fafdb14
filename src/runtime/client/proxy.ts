import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/** How long a proxy may take to open a tunnel before the connection fails. */
const TUNNEL_TIMEOUT_MS = 30_000;
/** A CONNECT answer's header larger than this is not an answer. */
const MAX_TUNNEL_HEADER = 16 * 1024;

/**
 * An https agent whose connections reach the API server through an HTTP proxy (a kubeconfig
 * cluster's `proxy-url`): a CONNECT tunnel to the server first, then TLS with the server inside
 * it, so that the proxy sees neither the credentials nor the requests.
 */
export class TunnelAgent extends Agent {
  /** Connections to the proxy whose tunnel is not open yet: the agent's own sockets do not hold them. */
  private readonly opening = new Set<Socket>();

  constructor(
    private readonly proxy: URL,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(
    options: RequestOptions,
    done?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? 443);
    openTunnel(this.proxy, host, port, this.opening).then(
      (socket) => done?.(null, tlsConnect({ ...(options as ConnectionOptions), host, port, socket })),
      (err: Error) => done?.(err, undefined as never),
    );
    return undefined;
  }

  /** Also ends the tunnels still being opened, whose requests fail at once rather than in 30 s. */
  override destroy(): void {
    for (const socket of this.opening) socket.destroy();
    super.destroy();
  }
}

/**
 * A socket to `host:port` through `proxy`, ready for the server's TLS handshake. It is in
 * `opening` until the tunnel is open or has failed.
 */
function openTunnel(proxy: URL, host: string, port: number, opening: Set<Socket>): Promise<Socket> {
  const proxyPort = Number(proxy.port) || 80;
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  // Never the userinfo: messages end up in logs.
  const where = `proxy http://${proxy.host}`;
  const auth = proxy.username
    ? `Proxy-Authorization: Basic ${Buffer.from(
        `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`,
      ).toString('base64')}\r\n`
    : '';
  return new Promise((resolve, reject) => {
    const hostname = proxy.hostname.replace(/^\[|\]$/g, '');
    const socket = tcpConnect(proxyPort, hostname);
    opening.add(socket);
    const fail = (message: string) => {
      opening.delete(socket);
      socket.destroy();
      reject(new Error(`${where}: ${message}`));
    };
    socket.setTimeout(TUNNEL_TIMEOUT_MS, () =>
      fail(`no tunnel to ${target} within ${TUNNEL_TIMEOUT_MS / 1000} s`),
    );
    const onError = (err: Error) => fail(err.message);
    const onEnd = () => fail(`closed the connection before answering CONNECT ${target}`);
    const onClose = () => fail(`connection closed before the tunnel to ${target} opened`);
    socket.once('error', onError);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.once('connect', () =>
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`),
    );
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_TUNNEL_HEADER) fail(`answered CONNECT ${target} with no end of header`);
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200\b/.test(statusLine)) {
        fail(`refused CONNECT ${target}: ${statusLine || 'no status line'}`);
        return;
      }
      // The server speaks first only after our TLS hello, so nothing should follow the header.
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
      socket.setTimeout(0);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      opening.delete(socket);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}
