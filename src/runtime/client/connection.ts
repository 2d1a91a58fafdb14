import type { OutgoingHttpHeaders } from 'node:http';
import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { ClientClosedError } from './errors.js';
import {
  type ClusterAccess,
  type Credentials,
  ExecPlugin,
  environmentProxy,
  type Impersonation,
  loadKubeconfig,
  proxyUrl,
} from './kubeconfig.js';
import { TunnelAgent } from './proxy.js';

export type { Impersonation };

/**
 * Requests share a bounded pool of keep-alive sockets; watches and other long streams get a
 * socket each from a second, unbounded agent, so that they never take the requests' sockets.
 * Past the bound requests queue in the client, where they cost nothing, rather than opening more
 * connections: every new one is a TLS handshake on both ends, and an API server serves no faster
 * for more of them (a burst of 500 Performers opened ~140 sockets in the operator, and their
 * handshakes cost it and the API server more CPU than a whole reconcile).
 * Every socket shares one TLS context: handed only ca, cert and key, Node parses them into a new
 * context per connection.
 */
export const MAX_REQUEST_SOCKETS = 32;

interface Agents {
  readonly requests: Agent;
  readonly streams: Agent;
  /** Requests that must never wait behind the pool (lease renewals), on kept-alive sockets of their own. */
  readonly dedicated: Agent;
}

function agentsFor(tls: AgentOptions, proxy: URL | undefined): Agents {
  let options = tls;
  try {
    // The PEMs stay out of the agent's options once they are in the context: an https agent
    // concatenates ca, cert and key into the pool's name for every request it sends.
    const { ca, cert, key, ...rest } = tls;
    options = { ...rest, secureContext: createSecureContext({ ca, cert, key }) };
  } catch {
    // Material TLS cannot read fails each connection with its own error, as before.
  }
  const agent = (o: AgentOptions) => (proxy ? new TunnelAgent(proxy, o) : new Agent(o));
  return {
    requests: agent({
      ...options,
      keepAlive: true,
      maxSockets: MAX_REQUEST_SOCKETS,
      maxFreeSockets: MAX_REQUEST_SOCKETS,
    }),
    streams: agent({ ...options, keepAlive: false }),
    dedicated: agent({ ...options, keepAlive: true, maxFreeSockets: 2 }),
  };
}

/** Where a connection was loaded from: a kubeconfig file (else the defaults) and a context. */
export interface ConnectionOrigin {
  kubeconfig?: string;
  context?: string;
}

/**
 * How to reach one API server: its URL, a keep-alive TLS agent holding the client identity, and
 * the auth headers. Kubeconfigs are read by our own loader (`kubeconfig.ts`); only users with a
 * legacy `auth-provider` fall back to @kubernetes/client-node's KubeConfig, imported on demand.
 * Requests themselves go through our own transport.
 */
export class Connection {
  private cachedHeaders: OutgoingHttpHeaders = {};
  private headersAt = 0;
  private currentAgents: Agents;
  private currentTls: AgentOptions;
  /** Agents replaced by a certificate rotation: their open watches end with close(). */
  private readonly retired: Agents[] = [];
  /** What `load` was given: enough for another process to load the same cluster and user. */
  origin: Readonly<ConnectionOrigin> = {};
  private lifetime = new AbortController();

  private constructor(
    /** Set only when client-node loaded the kubeconfig (the auth-provider fallback). */
    readonly kubeConfig: KubeConfig | undefined,
    readonly server: URL,
    tls: AgentOptions,
    private readonly credentials: Credentials | undefined,
    /** True when client-node's auth headers can change (exec plugins, auth providers). */
    private readonly dynamicAuth: boolean,
    /** The context's namespace, when the kubeconfig or service account names one. */
    readonly namespace?: string,
    /** Who requests act as, from the kubeconfig user's `as*` fields. */
    readonly impersonate?: Impersonation,
    /** The cluster's `proxy-url`, which every connection tunnels through. */
    readonly proxy?: URL,
  ) {
    this.currentTls = tls;
    this.currentAgents = agentsFor(tls, proxy);
  }

  /** The requests' agent; replaced when an exec plugin issues a new client certificate. */
  get agent(): Agent {
    return this.currentAgents.requests;
  }

  /** The agent of watches and other long streams: a socket each, closed when the stream ends. */
  get streamAgent(): Agent {
    return this.currentAgents.streams;
  }

  /**
   * The agent of requests that must go out on time whatever the pool holds (lease renewals): not
   * bounded, and shared with nothing else, so they never queue behind reconciles.
   */
  get dedicatedAgent(): Agent {
    return this.currentAgents.dedicated;
  }

  /** TLS material, for connections made outside the agent (WebSocket exec). */
  get tls(): AgentOptions {
    return this.currentTls;
  }

  /**
   * Loads `path`, or else $KUBECONFIG, ~/.kube/config or the in-cluster service account, as
   * kubectl does.
   */
  static async load(path?: string, context?: string): Promise<Connection> {
    const origin: ConnectionOrigin = {
      ...(path ? { kubeconfig: path } : {}),
      ...(context ? { context } : {}),
    };
    const access = await loadKubeconfig({ path: origin.kubeconfig, context: origin.context });
    let conn: Connection;
    if ('unsupported' in access) {
      // Imported only here: client-node's config module pulls in its whole generated API
      // (~77 MB of RSS, most of a second), which no other kubeconfig needs.
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      if (path) kc.loadFromFile(path);
      else kc.loadFromDefault();
      if (context) kc.setCurrentContext(context);
      conn = await Connection.fromKubeConfig(kc);
    } else conn = Connection.fromAccess(access);
    conn.origin = origin;
    return conn;
  }

  static fromAccess(access: ClusterAccess): Connection {
    const { ca, cert, key, rejectUnauthorized, servername } = access.tls;
    const tls: AgentOptions = {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      rejectUnauthorized,
      ...(servername ? { servername } : {}),
    };
    const conn = new Connection(
      undefined,
      access.server,
      tls,
      access.credentials,
      false,
      access.namespace,
      access.impersonate,
      access.proxy,
    );
    if (access.credentials instanceof ExecPlugin) {
      access.credentials.onClientCertificate = (newCert, newKey) => {
        // New requests use the new identity; open watches keep theirs until the server ends them.
        conn.currentTls = { ...conn.currentTls, cert: newCert, key: newKey };
        const old = conn.currentAgents;
        conn.retired.push(old);
        conn.currentAgents = agentsFor(conn.currentTls, conn.proxy);
        for (const pool of [old.requests, old.dedicated])
          for (const sockets of Object.values(pool.freeSockets)) for (const s of sockets ?? []) s.destroy();
      };
    }
    return conn;
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
    const user = kc.getCurrentUser();
    const server = new URL(cluster.server);
    // client-node's headers carry the user's `as` already; its proxy agent is not ours.
    const conn = new Connection(
      kc,
      server,
      tls,
      undefined,
      !!(user?.exec || user?.authProvider),
      kc.getContextObject(kc.getCurrentContext())?.namespace,
      undefined,
      proxyUrl(cluster.proxyUrl, `cluster "${cluster.name}"`) ?? environmentProxy(server, process.env),
    );
    conn.cachedHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
    if (user?.username) {
      conn.cachedHeaders['authorization'] =
        `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    conn.headersAt = Date.now();
    return conn;
  }

  /**
   * Whether authHeaders() may keep a request waiting: an exec plugin, or client-node's auth
   * provider, runs when its credential expires. Static tokens and token files never do.
   */
  get credentialsMayWait(): boolean {
    return this.credentials instanceof ExecPlugin || this.dynamicAuth;
  }

  /** Auth headers for the next request (token files and exec plugins refresh as they expire). */
  async authHeaders(): Promise<OutgoingHttpHeaders> {
    if (this.credentials) return this.credentials.headers();
    if (this.kubeConfig && this.dynamicAuth && Date.now() - this.headersAt > 60_000) {
      const opts: RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(opts);
      this.cachedHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
      this.headersAt = Date.now();
    }
    return this.cachedHeaders;
  }

  /**
   * The server refused `rejected` (a 401): renews the credentials now rather than when they expire,
   * as client-go does for exec plugins. True when new ones are in place, so a refused request is
   * worth sending again.
   */
  async renewCredentials(rejected: OutgoingHttpHeaders): Promise<boolean> {
    return (await this.credentials?.renew?.(rejected)) ?? false;
  }

  /**
   * Aborted by the next close(): a request begun before it is neither retried nor sent again
   * after it, and its retry waits end.
   */
  get closed(): AbortSignal {
    return this.lifetime.signal;
  }

  /**
   * Ends every request, stream and retry wait under way, with ClientClosedError, and closes the
   * sockets, so that nothing of this connection keeps the process alive. Like Node's
   * `Agent.destroy()`, it does not disable the connection: a request begun later opens a new
   * socket (a test's cleanup may still delete what it made).
   */
  close(): void {
    const ended = this.lifetime;
    this.lifetime = new AbortController();
    ended.abort(new ClientClosedError(`the client of ${this.server.origin} is closed`));
    for (const a of [...this.retired, this.currentAgents]) {
      endQueued(a.requests, ended.signal.reason as Error);
      a.requests.destroy();
      a.streams.destroy();
      a.dedicated.destroy();
    }
  }
}

/**
 * Ends the requests an agent holds back until one of its sockets comes free: `destroy()` alone
 * would free the sockets for them, and they would be sent on new ones. A request that has no
 * socket reports an error only when given one, so each is failed as the agent fails a request
 * whose connection could not be made.
 */
function endQueued(agent: Agent, reason: Error): void {
  type Queued = { onSocket(socket: undefined, err: Error): void };
  const queues = agent.requests as unknown as Record<string, Queued[] | undefined>;
  for (const name of Object.keys(queues)) {
    const queued = queues[name] ?? [];
    delete queues[name];
    for (const req of queued) req.onSocket(undefined, reason);
  }
}
