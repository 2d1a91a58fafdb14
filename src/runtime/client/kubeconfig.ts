import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { proxyFromEnvironment } from './env-proxy.js';

/**
 * Kubeconfig loading and auth as kubectl does it, without @kubernetes/client-node: importing
 * that package costs ~77 MB of RSS and most of a second, because its config module pulls in the
 * whole generated API. Users with a legacy `auth-provider` are handed back to client-node.
 */

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads token files about once a minute (projected tokens rotate underneath). */
const TOKEN_FILE_TTL_MS = 60_000;

/**
 * How long an exec credential plugin may run before it is killed and its run fails: one that
 * hangs (waiting on a login no one can give, or on a network that does not answer) would
 * otherwise hold up every request for ever. Cloud plugins answer within seconds.
 */
export const EXEC_PLUGIN_TIMEOUT_MS = 60_000;

export interface KubeconfigOptions {
  /** An explicit kubeconfig file; else $KUBECONFIG, ~/.kube/config, then in-cluster. */
  readonly path?: string;
  /** Overrides the current context. */
  readonly context?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where the in-cluster service-account files are (tests point it at a temp dir). */
  readonly serviceAccountDir?: string;
  /** How long a token file's content is trusted before it is read again (default 60 s). */
  readonly tokenFileTtlMs?: number;
  /** How long an exec credential plugin may run (default EXEC_PLUGIN_TIMEOUT_MS). */
  readonly execPluginTimeoutMs?: number;
}

export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/** Who requests act as instead of the authenticated user: the `Impersonate-*` headers. */
export interface Impersonation {
  readonly user: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** Everything needed to reach one API server as one user. */
export interface ClusterAccess {
  /** The file(s) it came from, or `in-cluster`, for messages. */
  readonly source: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly server: URL;
  readonly tls: TlsMaterial;
  readonly credentials: Credentials;
  /** The user's `as`, `as-uid`, `as-groups` and `as-user-extra`. */
  readonly impersonate?: Impersonation;
  /** The cluster's `proxy-url`: an HTTP proxy that tunnels to the server with CONNECT. */
  readonly proxy?: URL;
}

/** The selected user needs client-node (e.g. a legacy `auth-provider`). */
export interface Unsupported {
  readonly unsupported: string;
}

/** Raw kubeconfig shapes: only the fields we read. */
interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}
interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}
interface RawExec {
  command?: string;
  args?: string[];
  env?: { name?: string; value?: string }[] | null;
  apiVersion?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: string;
}
interface RawUser {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: RawExec;
  'auth-provider'?: { name?: string };
  as?: string;
  'as-uid'?: string;
  'as-groups'?: string[] | null;
  'as-user-extra'?: Record<string, string[] | null> | null;
}
interface RawContext {
  cluster?: string;
  user?: string;
  namespace?: string;
}
interface RawConfig {
  'current-context'?: string;
  clusters?: NamedEntry<RawCluster>[] | null;
  users?: NamedEntry<RawUser>[] | null;
  contexts?: NamedEntry<RawContext>[] | null;
}

/** One entry with the directory its relative paths resolve against. */
interface Located<T> {
  readonly value: T;
  readonly file: string;
}

/** Several kubeconfig files merged as kubectl merges $KUBECONFIG: the first to define a name wins. */
export interface MergedConfig {
  readonly files: readonly string[];
  readonly currentContext?: string;
  readonly clusters: ReadonlyMap<string, Located<RawCluster>>;
  readonly users: ReadonlyMap<string, Located<RawUser>>;
  readonly contexts: ReadonlyMap<string, Located<RawContext>>;
}

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

function readConfigFile(file: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file}: cannot read it: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new KubeconfigError(`kubeconfig ${file}: expected a mapping at the top level`);
  return doc as RawConfig;
}

/** Merges files in order, as kubectl does with a $KUBECONFIG list. */
export function mergeKubeconfigs(files: readonly string[]): MergedConfig {
  let currentContext: string | undefined;
  const clusters = new Map<string, Located<RawCluster>>();
  const users = new Map<string, Located<RawUser>>();
  const contexts = new Map<string, Located<RawContext>>();
  const add = <T>(
    into: Map<string, Located<T>>,
    list: NamedEntry<T>[] | null | undefined,
    field: 'cluster' | 'user' | 'context',
    file: string,
  ) => {
    if (list != null && !Array.isArray(list))
      throw new KubeconfigError(`kubeconfig ${file}: ${field}s must be a list`);
    for (const [i, entry] of (list ?? []).entries()) {
      if (!entry?.name) throw new KubeconfigError(`kubeconfig ${file}: ${field}s[${i}] has no name`);
      if (!into.has(entry.name)) into.set(entry.name, { value: (entry[field] ?? {}) as T, file });
    }
  };
  for (const file of files) {
    const raw = readConfigFile(file);
    if (!currentContext && raw['current-context']) currentContext = raw['current-context'];
    add(clusters, raw.clusters, 'cluster', file);
    add(users, raw.users, 'user', file);
    add(contexts, raw.contexts, 'context', file);
  }
  return { files, ...(currentContext ? { currentContext } : {}), clusters, users, contexts };
}

/** The kubeconfig files kubectl would read, or [] when in-cluster config should be tried. */
export function kubeconfigFiles(opts: KubeconfigOptions = {}): string[] {
  if (opts.path) return [resolve(opts.path)];
  const env = opts.env ?? process.env;
  const list = env['KUBECONFIG'];
  if (list) {
    // Missing entries are skipped, as kubectl does; duplicates are read once.
    const files = [
      ...new Set(
        list
          .split(delimiter)
          .filter(Boolean)
          .map((p) => resolve(p)),
      ),
    ];
    const present = files.filter((f) => existsSync(f));
    if (present.length) return present;
    throw new KubeconfigError(`KUBECONFIG names no file that exists (${list})`);
  }
  const home = env['HOME'] || env['USERPROFILE'] || homedir();
  const def = join(home, '.kube', 'config');
  return existsSync(def) ? [def] : [];
}

/**
 * Loads the cluster access kubectl would use: explicit path, $KUBECONFIG, ~/.kube/config, else
 * the in-cluster service account.
 */
export async function loadKubeconfig(opts: KubeconfigOptions = {}): Promise<ClusterAccess | Unsupported> {
  const files = kubeconfigFiles(opts);
  const env = opts.env ?? process.env;
  if (files.length === 0) {
    if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']) {
      if (opts.context)
        throw new KubeconfigError(`context ${opts.context}: in-cluster config has no named contexts`);
      return withEnvironmentProxy(
        inClusterAccess(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, opts.tokenFileTtlMs),
        env,
      );
    }
    throw new KubeconfigError(
      'no kubeconfig: pass one, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
    );
  }
  const access = await resolveContext(
    mergeKubeconfigs(files),
    opts.context,
    opts.tokenFileTtlMs,
    opts.execPluginTimeoutMs,
  );
  return 'unsupported' in access ? access : withEnvironmentProxy(access, env);
}

/** Without a `proxy-url`, the proxy HTTPS_PROXY and NO_PROXY choose for the server, as client-go does. */
function withEnvironmentProxy(access: ClusterAccess, env: NodeJS.ProcessEnv): ClusterAccess {
  const proxy = access.proxy ?? environmentProxy(access.server, env);
  return proxy ? { ...access, proxy } : access;
}

/** The proxy HTTPS_PROXY and NO_PROXY choose for `server`; one we cannot speak is an error. */
export function environmentProxy(server: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const chosen = proxyFromEnvironment(server, env);
  return chosen && proxyUrl(chosen.value, `environment variable ${chosen.variable}`, 'the proxy');
}

/** Turns the chosen context of a merged config into cluster access. */
export async function resolveContext(
  config: MergedConfig,
  contextOverride?: string,
  tokenFileTtlMs = TOKEN_FILE_TTL_MS,
  execPluginTimeoutMs = EXEC_PLUGIN_TIMEOUT_MS,
): Promise<ClusterAccess | Unsupported> {
  const source = config.files.join(delimiter);
  const contextName = contextOverride ?? config.currentContext;
  if (!contextName)
    throw new KubeconfigError(`kubeconfig ${source}: no current-context is set and none was given`);
  const context = config.contexts.get(contextName);
  if (!context) throw new KubeconfigError(`kubeconfig ${source}: no context named "${contextName}"`);
  const where = `kubeconfig ${context.file}: context "${contextName}"`;
  if (!context.value.cluster) throw new KubeconfigError(`${where} names no cluster`);
  const cluster = config.clusters.get(context.value.cluster);
  if (!cluster) throw new KubeconfigError(`${where} names unknown cluster "${context.value.cluster}"`);
  const userName = context.value.user;
  const user = userName ? config.users.get(userName) : undefined;
  if (userName && !user) throw new KubeconfigError(`${where} names unknown user "${userName}"`);

  const c = cluster.value;
  const clusterWhere = `kubeconfig ${cluster.file}: cluster "${context.value.cluster}"`;
  if (!c.server) throw new KubeconfigError(`${clusterWhere} has no server`);
  let server: URL;
  try {
    server = new URL(c.server);
  } catch {
    throw new KubeconfigError(`${clusterWhere}: server "${c.server}" is not a URL`);
  }
  const proxy = proxyUrl(c['proxy-url'], clusterWhere);
  const ca = material(
    c['certificate-authority-data'],
    c['certificate-authority'],
    cluster.file,
    clusterWhere,
    'certificate-authority',
  );

  const u = user?.value ?? {};
  const userWhere = `kubeconfig ${user?.file ?? cluster.file}: user "${userName ?? ''}"`;
  if (u['auth-provider'])
    return { unsupported: `${userWhere} uses auth-provider "${u['auth-provider'].name ?? '?'}"` };
  if (u.exec && !EXEC_API_VERSIONS.has(u.exec.apiVersion ?? ''))
    return { unsupported: `${userWhere}: exec apiVersion "${u.exec.apiVersion ?? ''}"` };

  let cert = material(
    u['client-certificate-data'],
    u['client-certificate'],
    user?.file,
    userWhere,
    'client-certificate',
  );
  let key = material(u['client-key-data'], u['client-key'], user?.file, userWhere, 'client-key');
  if (!!cert !== !!key)
    throw new KubeconfigError(
      `${userWhere} has ${cert ? 'a client certificate but no client-key' : 'a client key but no client-certificate'}`,
    );

  const impersonate = impersonationOf(u, userWhere);
  const tlsBase = {
    ...(ca ? { ca } : {}),
    rejectUnauthorized: !c['insecure-skip-tls-verify'],
    ...(c['tls-server-name'] ? { servername: c['tls-server-name'] } : {}),
  };
  let credentials: Credentials;
  if (u.exec) {
    const plugin = new ExecPlugin(
      u.exec,
      user!.file,
      userWhere,
      {
        server: c.server,
        ...(c['certificate-authority-data'] || ca
          ? { caData: c['certificate-authority-data'] ?? ca!.toString('base64') }
          : {}),
        insecure: !!c['insecure-skip-tls-verify'],
        ...(c['tls-server-name'] ? { tlsServerName: c['tls-server-name'] } : {}),
      },
      execPluginTimeoutMs,
    );
    // Run it now: a plugin may issue the client certificate the TLS agent needs.
    const status = await plugin.credential();
    if (status.clientCertificateData) {
      cert = Buffer.from(status.clientCertificateData);
      key = Buffer.from(status.clientKeyData!);
    }
    credentials = plugin;
  } else if (u.tokenFile) {
    credentials = new TokenFileCredentials(
      resolveAgainst(u.tokenFile, user!.file),
      userWhere,
      tokenFileTtlMs,
      u.token,
    );
    await credentials.headers(); // an unreadable token file fails at load, naming the file
  } else if (u.token) {
    credentials = new StaticCredentials({ authorization: `Bearer ${u.token}` });
  } else if (u.username) {
    const basic = Buffer.from(`${u.username}:${u.password ?? ''}`).toString('base64');
    credentials = new StaticCredentials({ authorization: `Basic ${basic}` });
  } else {
    credentials = new StaticCredentials({});
  }
  return {
    source,
    context: contextName,
    ...(context.value.namespace ? { namespace: context.value.namespace } : {}),
    server,
    tls: { ...tlsBase, ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
    credentials,
    ...(impersonate ? { impersonate } : {}),
    ...(proxy ? { proxy } : {}),
  };
}

/** A user's `as*` fields; the others are refused without `as`, as client-go refuses them. */
function impersonationOf(u: RawUser, where: string): Impersonation | undefined {
  const groups = u['as-groups'] ?? [];
  const extra = Object.entries(u['as-user-extra'] ?? {}).map(([k, v]) => [k, v ?? []] as const);
  if (!u.as) {
    if (u['as-uid'] || groups.length || extra.length)
      throw new KubeconfigError(
        `${where} sets as-uid, as-groups or as-user-extra without as (the user to act as)`,
      );
    return undefined;
  }
  return {
    user: u.as,
    ...(u['as-uid'] ? { uid: u['as-uid'] } : {}),
    ...(groups.length ? { groups } : {}),
    ...(extra.length ? { extra: Object.fromEntries(extra) } : {}),
  };
}

/**
 * A cluster's `proxy-url`. client-go also speaks HTTPS and SOCKS5 proxies; those are refused by
 * name rather than bypassed.
 */
export function proxyUrl(raw: string | undefined, where: string, what = 'proxy-url'): URL | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new KubeconfigError(`${where}: ${what} "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:')
    throw new KubeconfigError(
      `${where}: ${what} "${raw}": only http:// proxies are supported, not ${url.protocol.slice(0, -1)}`,
    );
  return url;
}

/** The service account a pod runs as, as client-go's rest.InClusterConfig reads it. */
export function inClusterAccess(
  env: NodeJS.ProcessEnv,
  dir: string,
  tokenFileTtlMs = TOKEN_FILE_TTL_MS,
): ClusterAccess {
  const host = env['KUBERNETES_SERVICE_HOST']!;
  const port = env['KUBERNETES_SERVICE_PORT']!;
  const caFile = join(dir, 'ca.crt');
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (err) {
    throw new KubeconfigError(`in-cluster config: cannot read ${caFile}: ${(err as Error).message}`);
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    // client-go falls back to "default" when the file is absent; leave it to the caller.
  }
  const credentials = new TokenFileCredentials(join(dir, 'token'), 'in-cluster config', tokenFileTtlMs);
  credentials.readNow(); // fail at load when there is no token
  return {
    source: 'in-cluster',
    ...(namespace ? { namespace } : {}),
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    tls: { ca, rejectUnauthorized: true },
    credentials,
  };
}

function resolveAgainst(path: string, configFile: string | undefined): string {
  if (isAbsolute(path) || !configFile) return path;
  return resolve(dirname(configFile), path);
}

/** `-data` (base64) wins over a file path, as in client-go. */
function material(
  data: string | undefined,
  path: string | undefined,
  configFile: string | undefined,
  where: string,
  field: string,
): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (!path) return undefined;
  const file = resolveAgainst(path, configFile);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new KubeconfigError(`${where}: cannot read ${field} ${file}: ${(err as Error).message}`);
  }
}

/** Auth for each request: headers, refreshed as their source requires. */
export interface Credentials {
  headers(): Promise<Record<string, string>>;
  /**
   * The server refused the headers `rejected` (the very object `headers()` gave) with a 401:
   * renew them now. True when the next `headers()` differ, whether this call or an earlier
   * one renewed them.
   */
  renew?(rejected: object): Promise<boolean>;
}

class StaticCredentials implements Credentials {
  constructor(private readonly h: Record<string, string>) {}
  async headers(): Promise<Record<string, string>> {
    return this.h;
  }
}

/** A bearer token in a file, re-read once a minute (service-account tokens rotate). */
class TokenFileCredentials implements Credentials {
  private cached: Record<string, string> = {};
  private readAt = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly file: string,
    private readonly where: string,
    private readonly ttlMs: number,
    private readonly fallbackToken?: string,
  ) {}

  readNow(): void {
    let token: string;
    try {
      token = readFileSync(this.file, 'utf8').trim();
    } catch (err) {
      if (!this.fallbackToken)
        throw new KubeconfigError(
          `${this.where}: cannot read token file ${this.file}: ${(err as Error).message}`,
        );
      token = this.fallbackToken;
    }
    if (!token) throw new KubeconfigError(`${this.where}: token file ${this.file} is empty`);
    this.cached = { authorization: `Bearer ${token}` };
    this.readAt = Date.now();
  }

  async headers(): Promise<Record<string, string>> {
    if (Date.now() - this.readAt >= this.ttlMs) this.reread();
    return this.cached;
  }

  /** A token refused before its minute is up may have been rotated already: read the file now. */
  async renew(rejected: object): Promise<boolean> {
    if (rejected !== this.cached) return true;
    const before = this.cached.authorization;
    this.reread();
    return this.cached.authorization !== before;
  }

  private reread(): void {
    try {
      this.readNow();
    } catch (err) {
      // Keep the last good token through a transient failure, as client-go does.
      if (this.readAt === Number.NEGATIVE_INFINITY) throw err;
    }
  }
}

const EXEC_API_VERSIONS = new Set([
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
]);

export interface ExecStatus {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  readonly expirationTimestamp?: string;
}

interface ExecClusterInfo {
  readonly server: string;
  readonly caData?: string;
  readonly insecure: boolean;
  readonly tlsServerName?: string;
}

/**
 * A client.authentication.k8s.io credential plugin; its credential is kept until it expires or the
 * server refuses it.
 */
export class ExecPlugin implements Credentials {
  private status: ExecStatus | undefined;
  private auth: Record<string, string> = {};
  private expiresAt = Number.POSITIVE_INFINITY;
  private pending: Promise<ExecStatus> | undefined;
  /** Called when a fresh credential carries a different client certificate. */
  onClientCertificate?: (cert: Buffer, key: Buffer) => void;

  constructor(
    private readonly exec: RawExec,
    private readonly configFile: string,
    private readonly where: string,
    private readonly cluster: ExecClusterInfo,
    private readonly timeoutMs = EXEC_PLUGIN_TIMEOUT_MS,
  ) {
    if (!exec.command) throw new KubeconfigError(`${where}: exec has no command`);
  }

  async headers(): Promise<Record<string, string>> {
    await this.credential();
    return this.auth;
  }

  /** Runs the plugin again, once for all the requests refused with the same credential. */
  async renew(rejected: object): Promise<boolean> {
    if (rejected !== this.auth) return true;
    const before = this.status;
    if (!this.pending) this.expiresAt = Number.NEGATIVE_INFINITY;
    const after = await this.credential();
    return (
      after.token !== before?.token ||
      after.clientCertificateData !== before?.clientCertificateData ||
      after.clientKeyData !== before?.clientKeyData
    );
  }

  /** The cached credential, or a fresh one from the plugin once it has expired. */
  async credential(): Promise<ExecStatus> {
    if (this.status && Date.now() < this.expiresAt) return this.status;
    this.pending ??= this.run().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async run(): Promise<ExecStatus> {
    const exec = this.exec;
    const apiVersion = exec.apiVersion!;
    // A command with a path separator is relative to the kubeconfig; a bare name is looked up on PATH.
    const command = /[\\/]/.test(exec.command!)
      ? resolveAgainst(exec.command!, this.configFile)
      : exec.command!;
    const spec: Record<string, unknown> = { interactive: false };
    if (exec.provideClusterInfo) {
      spec['cluster'] = {
        server: this.cluster.server,
        ...(this.cluster.caData ? { 'certificate-authority-data': this.cluster.caData } : {}),
        ...(this.cluster.insecure ? { 'insecure-skip-tls-verify': true } : {}),
        ...(this.cluster.tlsServerName ? { 'tls-server-name': this.cluster.tlsServerName } : {}),
      };
    }
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const e of exec.env ?? []) if (e?.name) env[e.name] = e.value ?? '';
    env['KUBERNETES_EXEC_INFO'] = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec });

    const what = `${this.where}: exec plugin ${command}`;
    type Run = { code: number | null; stdout: string; stderr: string; error?: Error };
    const { code, stdout, stderr, error } = await new Promise<Run>((resolve) => {
      const child = spawn(command, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const done = (result: Run) => {
        clearTimeout(timer);
        resolve(result);
      };
      // Killed, and failed at once: a process it started may keep its output open.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        child.stdout.destroy();
        child.stderr.destroy();
        const said = Buffer.concat(err).toString('utf8').trim();
        done({
          code: null,
          stdout: '',
          stderr: '',
          error: new KubeconfigError(
            `${what} did not finish within ${this.timeoutMs} ms; killed it${said ? ` (stderr: ${said.slice(0, 500)})` : ''}`,
          ),
        });
      }, this.timeoutMs);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) =>
        done({
          code: null,
          stdout: '',
          stderr: '',
          error: new KubeconfigError(`${what} could not start: ${e.message}`),
        }),
      );
      child.on('close', (c) =>
        done({
          code: c,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
    });
    if (error) throw error;
    if (code !== 0)
      throw new KubeconfigError(`${what} exited with ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    let cred: { apiVersion?: string; kind?: string; status?: ExecStatus };
    try {
      cred = JSON.parse(stdout);
    } catch {
      throw new KubeconfigError(`${what} printed no ExecCredential JSON: ${stdout.slice(0, 200)}`);
    }
    if (cred.kind !== 'ExecCredential')
      throw new KubeconfigError(`${what} printed kind "${cred.kind ?? ''}", not ExecCredential`);
    if (cred.apiVersion !== apiVersion)
      throw new KubeconfigError(
        `${what} answered apiVersion "${cred.apiVersion ?? ''}", expected "${apiVersion}"`,
      );
    const s = cred.status;
    if (!s) throw new KubeconfigError(`${what} returned no status`);
    if (!!s.clientCertificateData !== !!s.clientKeyData)
      throw new KubeconfigError(`${what} returned only one of clientCertificateData and clientKeyData`);
    if (!s.token && !s.clientCertificateData)
      throw new KubeconfigError(`${what} returned neither a token nor a client certificate`);
    let expiresAt = Number.POSITIVE_INFINITY;
    if (s.expirationTimestamp) {
      expiresAt = Date.parse(s.expirationTimestamp);
      if (Number.isNaN(expiresAt))
        throw new KubeconfigError(`${what}: expirationTimestamp "${s.expirationTimestamp}" is not a time`);
    }
    const previous = this.status;
    this.status = s;
    this.auth = s.token ? { authorization: `Bearer ${s.token}` } : {};
    this.expiresAt = expiresAt;
    if (
      previous &&
      s.clientCertificateData &&
      (s.clientCertificateData !== previous.clientCertificateData ||
        s.clientKeyData !== previous.clientKeyData)
    )
      this.onClientCertificate?.(Buffer.from(s.clientCertificateData), Buffer.from(s.clientKeyData!));
    return s;
  }
}
