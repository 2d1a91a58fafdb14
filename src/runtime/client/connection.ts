import type { OutgoingHttpHeaders } from 'node:http';
import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** Who the client speaks as when it is not itself: the `Impersonate-*` headers. */
export interface Impersonation {
  readonly user: string;
  readonly groups?: readonly string[];
}

/**
 * How to reach one API server: its URL, a keep-alive TLS agent holding the client identity, and
 * the auth headers. Loading and auth come from @kubernetes/client-node's KubeConfig (exec
 * plugins, token files, in-cluster config); requests themselves go through our own transport.
 */
export class Connection {
  private cachedHeaders: OutgoingHttpHeaders = {};
  private headersAt = 0;

  private constructor(
    readonly kubeConfig: KubeConfig,
    readonly server: URL,
    readonly agent: Agent,
    readonly tls: AgentOptions,
    /** True when auth headers can change (exec plugins, token files) and must be refreshed. */
    private readonly dynamicAuth: boolean,
  ) {}

  /**
   * Loads `path`, or else $KUBECONFIG, ~/.kube/config or the in-cluster service account, as
   * kubectl does.
   */
  static async load(path?: string, context?: string): Promise<Connection> {
    // Imported on first use: loading client-node's generated API costs about a second, which
    // commands that never reach a cluster (--help, crds, the kpt function) should not pay.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    if (context) kc.setCurrentContext(context);
    return Connection.fromKubeConfig(kc);
  }

  static async fromKubeConfig(kc: KubeConfig): Promise<Connection> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const tls: AgentOptions = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: !cluster.skipTLSVerify,
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    };
    // Watches hold one socket each for their lifetime; the rest is pooled.
    const agent = new Agent({ ...tls, keepAlive: true, maxSockets: 256, maxFreeSockets: 32 });
    const user = kc.getCurrentUser();
    const conn = new Connection(
      kc,
      new URL(cluster.server),
      agent,
      tls,
      !!(user?.exec || user?.authProvider),
    );
    conn.cachedHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
    if (user?.username) {
      conn.cachedHeaders['authorization'] =
        `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    conn.headersAt = Date.now();
    return conn;
  }

  /** Auth headers for the next request (refreshed once a minute when a plugin issues tokens). */
  async authHeaders(): Promise<OutgoingHttpHeaders> {
    if (this.dynamicAuth && Date.now() - this.headersAt > 60_000) {
      const opts: RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(opts);
      this.cachedHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
      this.headersAt = Date.now();
    }
    return this.cachedHeaders;
  }

  close(): void {
    this.agent.destroy();
  }
}
