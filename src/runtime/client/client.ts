import type { IncomingMessage } from 'node:http';
import type { DeleteOptions } from 'kubernetes-types/meta/v1.js';
import { Connection, type Impersonation } from './connection.js';
import { Discovery, groupVersionPath, type ResourceInfo } from './discovery.js';
import { isConflict, isResourceExpired, NotFoundError } from './errors.js';
import { type Query, type RestRequest, Transport } from './transport.js';
import { type Kind, type KubeObject, kindOf, type ObjectList } from './types.js';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  signal?: AbortSignal;
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface ApplyOptions extends CallOptions {
  /** Take ownership of fields another manager set (a controller usually should). */
  force?: boolean;
  fieldManager?: string;
  dryRun?: boolean;
}

/** Per call: `signal` cancels the request (e.g. a deadline tighter than the default 30 s). */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Field manager for server-side apply and for writes; one per component. */
  fieldManager?: string;
  impersonate?: Impersonation;
  userAgent?: string;
}

/**
 * A client for any API group and kind: typed when called with a `Kind<T>` handle, generic with
 * `kind(apiVersion, kind)`. Server-side apply with a field manager per component, status through
 * the status subresource, and API errors as typed errors.
 */
export class KubeClient {
  readonly fieldManager: string;

  private constructor(
    readonly transport: Transport,
    readonly discovery: Discovery,
    fieldManager: string,
  ) {
    this.fieldManager = fieldManager;
  }

  /** Loads as `Connection.load` does; `context` picks one of the kubeconfig's contexts. */
  static async load(
    kubeconfigPath?: string,
    options: ClientOptions & { context?: string } = {},
  ): Promise<KubeClient> {
    return KubeClient.fromConnection(await Connection.load(kubeconfigPath, options.context), options);
  }

  static fromConnection(connection: Connection, options: ClientOptions = {}): KubeClient {
    const transport = new Transport(connection, options.impersonate, options.userAgent ?? 'tutti');
    return new KubeClient(transport, new Discovery(transport), options.fieldManager ?? 'tutti');
  }

  /** The same connection, speaking as another identity (needs the `impersonate` verb). */
  impersonating(impersonate: Impersonation): KubeClient {
    const transport = this.transport.with(impersonate);
    return new KubeClient(transport, new Discovery(transport), this.fieldManager);
  }

  /**
   * The same client, every request of which `fence` cuts off when it aborts, and refused after:
   * a deposed leader's work sends nothing once it knows it lost the lease.
   */
  fencedBy(fence: AbortSignal): KubeClient {
    return new KubeClient(this.transport.fencedBy(fence), this.discovery, this.fieldManager);
  }

  /**
   * The same client on sockets of its own, never queued behind the shared pool's: for the few
   * requests that must go out on time whatever else is in flight (a leader's lease renewals).
   * Its discovery too. On a client that is dedicated already, that client.
   */
  dedicated(): KubeClient {
    if (this.transport.pool === 'dedicated') return this;
    const transport = this.transport.dedicated();
    return new KubeClient(transport, new Discovery(transport), this.fieldManager);
  }

  withFieldManager(fieldManager: string): KubeClient {
    return new KubeClient(this.transport, this.discovery, fieldManager);
  }

  close(): void {
    this.transport.connection.close();
  }

  /**
   * Where kind `k` is served. `signal` gives up waiting: the discovery request is shared by every
   * caller, so it runs on, but a caller that was cancelled must not wait out its 30 s deadline.
   */
  async resourceInfo(k: Kind, signal?: AbortSignal): Promise<ResourceInfo> {
    const info = this.discovery.resolve(k.apiVersion, k.kind);
    if (!signal) return info;
    signal.throwIfAborted();
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([info, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The REST path of a collection or an object of kind `k`. */
  async path(
    k: Kind,
    namespace?: string,
    name?: string,
    subresource?: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const info = await this.resourceInfo(k, signal);
    let p = groupVersionPath(info.apiVersion);
    if (info.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${info.resource}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  async get<T extends KubeObject>(
    k: Kind<T>,
    name: string,
    namespace?: string,
    opts: CallOptions = {},
  ): Promise<T> {
    return this.transport.json<T>({
      method: 'GET',
      path: await this.path(k, namespace, name, undefined, opts.signal),
      signal: opts.signal,
    });
  }

  /** Like get, but resolves undefined for an object that does not exist. */
  async find<T extends KubeObject>(
    k: Kind<T>,
    name: string,
    namespace?: string,
    opts: CallOptions = {},
  ): Promise<T | undefined> {
    try {
      return await this.get(k, name, namespace, opts);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(k: Kind<T>, opts: ListOptions = {}): Promise<ObjectList<T>> {
    return this.transport.json<ObjectList<T>>({
      method: 'GET',
      path: await this.path(k, opts.namespace, undefined, undefined, opts.signal),
      query: listQuery(opts),
      timeoutMs: 120_000,
      signal: opts.signal,
    });
  }

  /**
   * Every object, following `continue` tokens page by page. When a token expires between pages
   * (410 Expired: its snapshot was compacted away while we read), the pages so far are dropped
   * for one full list without `limit`, as client-go's pager does.
   */
  async listAll<T extends KubeObject>(k: Kind<T>, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const first = await this.list(k, { limit: 500, ...opts });
    const items = first.items;
    let token = first.metadata.continue;
    while (token) {
      let page: ObjectList<T>;
      try {
        page = await this.list(k, { ...opts, limit: opts.limit ?? 500, continue: token });
      } catch (err) {
        if (!isResourceExpired(err)) throw err;
        const { limit: _limit, continue: _continue, ...whole } = opts;
        return this.list(k, whole);
      }
      items.push(...page.items);
      token = page.metadata.continue;
    }
    // A continued list is a consistent snapshot at the first page's resourceVersion.
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  async create<T extends KubeObject>(obj: T, opts: { dryRun?: boolean } & CallOptions = {}): Promise<T> {
    return this.transport.json<T>(await this.createRequest(obj, opts.dryRun, opts.signal));
  }

  /** create() for a caller that does not need the created object back: the answer is not parsed. */
  async createOnly(obj: KubeObject, opts: CallOptions = {}): Promise<void> {
    await this.transport.sendDiscarding(await this.createRequest(obj, false, opts.signal));
  }

  private async createRequest(obj: KubeObject, dryRun = false, signal?: AbortSignal): Promise<RestRequest> {
    return {
      method: 'POST',
      path: await this.path(kindOf(obj), obj.metadata?.namespace, undefined, undefined, signal),
      query: { fieldManager: this.fieldManager, dryRun: dryRun ? 'All' : undefined },
      body: obj,
      signal,
    };
  }

  /** PUT: replaces the object; fails with ConflictError when resourceVersion is stale. */
  async replace<T extends KubeObject>(obj: T, opts: CallOptions = {}): Promise<T> {
    const k = kindOf(obj);
    return this.transport.json<T>({
      method: 'PUT',
      path: await this.path(k, obj.metadata?.namespace, requireName(obj), undefined, opts.signal),
      query: { fieldManager: this.fieldManager },
      body: obj,
      signal: opts.signal,
    });
  }

  /** PUT to the status subresource; like replace(), conditioned on resourceVersion when it is set. */
  async replaceStatus<T extends KubeObject>(obj: T, opts: CallOptions = {}): Promise<T> {
    const k = kindOf(obj);
    return this.transport.json<T>({
      method: 'PUT',
      path: await this.path(k, obj.metadata?.namespace, requireName(obj), 'status', opts.signal),
      query: { fieldManager: this.fieldManager },
      body: obj,
      signal: opts.signal,
    });
  }

  async patch<T extends KubeObject>(
    k: Kind<T>,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type: PatchType = 'merge',
    subresource?: string,
    opts: CallOptions = {},
  ): Promise<T> {
    return this.transport.json<T>({
      method: 'PATCH',
      path: await this.path(k, namespace, name, subresource, opts.signal),
      query: { fieldManager: this.fieldManager },
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      signal: opts.signal,
    });
  }

  /** Server-side apply of the fields in `obj`, owned by this client's field manager. */
  async apply<T extends KubeObject>(obj: T, opts: ApplyOptions = {}): Promise<T> {
    return this.applyTo(obj, undefined, opts);
  }

  /** Server-side apply to the status subresource. */
  async applyStatus<T extends KubeObject>(obj: T, opts: ApplyOptions = {}): Promise<T> {
    return this.applyTo(obj, 'status', opts);
  }

  private async applyTo<T extends KubeObject>(
    obj: T,
    subresource: string | undefined,
    opts: ApplyOptions,
  ): Promise<T> {
    const k = kindOf(obj);
    return this.transport.json<T>({
      method: 'PATCH',
      path: await this.path(k, obj.metadata?.namespace, requireName(obj), subresource, opts.signal),
      query: {
        fieldManager: opts.fieldManager ?? this.fieldManager,
        force: opts.force ?? true,
        dryRun: opts.dryRun ? 'All' : undefined,
      },
      body: obj,
      contentType: 'application/apply-patch+yaml',
      signal: opts.signal,
    });
  }

  /** Deletes an object; resolves false when it was already gone. */
  async delete(
    k: Kind,
    name: string,
    namespace?: string,
    opts: DeleteOptions & CallOptions = {},
  ): Promise<boolean> {
    const { signal, ...deleteOpts } = opts;
    try {
      await this.transport.json({
        method: 'DELETE',
        path: await this.path(k, namespace, name, undefined, signal),
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...deleteOpts },
        signal,
      });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async deleteCollection(k: Kind, opts: ListOptions & DeleteOptions = {}): Promise<void> {
    const { namespace, labelSelector, fieldSelector, signal, ...deleteOpts } = opts;
    await this.transport.json({
      method: 'DELETE',
      path: await this.path(k, namespace, undefined, undefined, signal),
      query: { labelSelector, fieldSelector },
      body: { kind: 'DeleteOptions', apiVersion: 'v1', ...deleteOpts },
      signal,
    });
  }

  /** Opens a watch stream of newline-delimited JSON events; see runtime/informer for a resilient one. */
  async watchStream(k: Kind, opts: WatchOptions = {}): Promise<IncomingMessage> {
    return this.transport.stream({
      method: 'GET',
      path: await this.path(k, opts.namespace, undefined, undefined, opts.signal),
      query: {
        ...listQuery(opts),
        watch: 1,
        allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
        timeoutSeconds: opts.timeoutSeconds,
      },
      signal: opts.signal,
    });
  }

  /** GET of a raw path, e.g. `/version` (JSON, parsed) or `raw<string>('/readyz')` (text, as it is). */
  async raw<T = unknown>(path: string, query?: Query, opts: CallOptions = {}): Promise<T> {
    return (await this.transport.jsonOrText<T>({ method: 'GET', path, query, signal: opts.signal })) as T;
  }
}

function listQuery(opts: ListOptions): Query {
  return {
    labelSelector: opts.labelSelector,
    fieldSelector: opts.fieldSelector,
    limit: opts.limit,
    continue: opts.continue,
    resourceVersion: opts.resourceVersion,
    resourceVersionMatch: opts.resourceVersionMatch,
  };
}

function requireName(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${obj.kind ?? 'object'} has no metadata.name`);
  return name;
}

/**
 * Reads, mutates and writes back an object until the write does not conflict: the standard
 * answer to optimistic concurrency. `mutate` returns false to skip the write.
 */
export async function retryOnConflict<T extends KubeObject>(
  client: KubeClient,
  k: Kind<T>,
  name: string,
  namespace: string | undefined,
  mutate: (obj: T) => boolean | undefined | Promise<boolean | undefined>,
  opts: { subresource?: 'status'; attempts?: number } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 10;
  for (let i = 1; ; i++) {
    const current = await client.get(k, name, namespace);
    if ((await mutate(current)) === false) return current;
    try {
      return opts.subresource === 'status'
        ? await client.replaceStatus(current)
        : await client.replace(current);
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
    }
  }
}
