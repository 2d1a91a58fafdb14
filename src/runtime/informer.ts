import type { IncomingMessage } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeClient } from './client/client.js';
import { GoneError } from './client/errors.js';
import type { Kind, KubeObject, WatchEvent } from './client/types.js';
import { objectKey } from './client/types.js';
import { internStrings } from './intern.js';
import type { Logger } from './log.js';
import { componentLogger } from './log.js';

export type IndexFunc<T> = (obj: T) => readonly string[];

export interface EventHandlers<T> {
  add?(obj: T): void | Promise<void>;
  update?(oldObj: T, newObj: T): void | Promise<void>;
  /** `obj` is the last state seen; after a relist it may be older than the deletion. */
  delete?(obj: T): void | Promise<void>;
}

export interface InformerOptions<T> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied to every object before it is cached; default drops metadata.managedFields. */
  transform?: (obj: T) => T;
  /** Server-side watch timeout; the watch is then resumed from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted. */
  livenessTimeoutMs?: number;
  /** Backoff after a failed list or watch: initial and maximum delay (jittered ±20 %). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Page size of the list calls. */
  pageSize?: number;
  logger?: Logger;
}

export const NAMESPACE_INDEX = 'namespace';
export const OWNER_UID_INDEX = 'ownerUid';

/** Defaults, each with why. */
export const INFORMER_DEFAULTS = {
  // client-go picks 5–10 min; one value keeps reconnects predictable in logs.
  watchTimeoutSeconds: 300,
  // Bookmarks arrive about once a minute on a healthy watch: two missed ones mean a dead watch.
  livenessTimeoutMs: 150_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 30_000,
  pageSize: 500,
} as const;

export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) obj.metadata.managedFields = undefined;
  return obj;
}

/**
 * A list+watch cache of one kind that never goes silent: it lists, then watches from the list's
 * resourceVersion with bookmarks; relists on 410 Gone; reconnects with jittered backoff on every
 * error and on a watch that closed too early or went quiet. Handlers may be async: events of one
 * key are delivered in order, each awaited before the next; different keys run concurrently.
 */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  /** Whether the kind is namespaced, once the first list began: objects are keyed `ns/name` or `name`. */
  namespaced?: boolean;
  private readonly indexers = new Map<string, IndexFunc<T>>();
  /**
   * Per index, the keys of the objects under each value: one key as is, more in a Set. Most values
   * (an owner's uid, a Performer) index one object, and a Set each would cost ~300 bytes.
   */
  private readonly indices = new Map<string, Map<string, string | Set<string>>>();
  private readonly handlers: EventHandlers<T>[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private resourceVersion = '';
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private abort?: AbortController;
  private loop?: Promise<void>;
  private failures = 0;
  private readonly log: Logger;
  private readonly opts: Required<
    Omit<InformerOptions<T>, 'namespace' | 'labelSelector' | 'fieldSelector' | 'logger'>
  >;

  constructor(
    private readonly client: KubeClient,
    readonly kind: Kind<T>,
    private readonly selection: Pick<InformerOptions<T>, 'namespace' | 'labelSelector' | 'fieldSelector'> &
      InformerOptions<T> = {},
  ) {
    this.opts = {
      transform: selection.transform ?? stripManagedFields,
      watchTimeoutSeconds: selection.watchTimeoutSeconds ?? INFORMER_DEFAULTS.watchTimeoutSeconds,
      livenessTimeoutMs: selection.livenessTimeoutMs ?? INFORMER_DEFAULTS.livenessTimeoutMs,
      backoffInitialMs: selection.backoffInitialMs ?? INFORMER_DEFAULTS.backoffInitialMs,
      backoffMaxMs: selection.backoffMaxMs ?? INFORMER_DEFAULTS.backoffMaxMs,
      pageSize: selection.pageSize ?? INFORMER_DEFAULTS.pageSize,
    };
    this.log = (selection.logger ?? componentLogger('informer')).child({
      kind: kind.kind,
      apiVersion: kind.apiVersion,
    });
    this.addIndex(NAMESPACE_INDEX, (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []));
    this.addIndex(OWNER_UID_INDEX, (o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid));
  }

  /** What it lists and watches, as a user would name it: `Pod (v1) in namespace x, labels a=b`. */
  get target(): string {
    const { namespace, labelSelector, fieldSelector } = this.selection;
    return [
      `${this.kind.kind} (${this.kind.apiVersion})`,
      namespace ? ` in namespace ${namespace}` : '',
      labelSelector ? `, labels ${labelSelector}` : '',
      fieldSelector ? `, fields ${fieldSelector}` : '',
    ].join('');
  }

  /** True once the first list has been cached and its add events delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  addHandler(handlers: EventHandlers<T>): void {
    this.handlers.push(handlers);
    // A handler added late still hears about every object already cached.
    if (this.synced)
      for (const obj of this.store.values()) this.dispatch(objectKey(obj), (h) => h.add?.(obj), [handlers]);
  }

  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.store.size > 0) throw new Error(`index ${name} must be added before the informer starts`);
    this.indexers.set(name, fn);
    this.indices.set(name, new Map());
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  /** Objects whose index `name` holds `value` (e.g. every object in a namespace). */
  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    const keys = index.get(value);
    if (keys === undefined) return [];
    return (typeof keys === 'string' ? [keys] : [...keys]).map((k) => this.store.get(k)!).filter(Boolean);
  }

  get lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Stops listing and watching; resolves once the loop and in-flight handlers are done. */
  async stop(): Promise<void> {
    this.abort?.abort(new Error('informer stopped'));
    await this.loop;
    this.loop = undefined;
    await Promise.all(this.chains.values());
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        const outcome = await this.watch(signal);
        if (outcome === 'expired') needList = true;
        else if (outcome !== 'healthy-close') await this.backoff(signal, outcome);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          needList = true;
          this.log.info({ err: err.message }, 'resourceVersion too old; relisting');
          continue;
        }
        this.log.warn(
          { err: (err as Error).message },
          needList ? 'list failed; retrying' : 'watch failed; retrying',
        );
        await this.backoff(signal, 'error');
      }
    }
  }

  private async backoff(signal: AbortSignal, why: string): Promise<void> {
    const ms = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.failures);
    this.failures++;
    const jittered = ms * (0.8 + Math.random() * 0.4);
    this.log.debug({ why, delayMs: Math.round(jittered) }, 'reconnecting after backoff');
    await delay(jittered, undefined, { signal }).catch(() => {});
  }

  private async relist(signal: AbortSignal): Promise<void> {
    // Known before the first sync ends: owners' keys depend on it (see Controller.owns).
    this.namespaced = (await this.client.resourceInfo(this.kind, signal)).namespaced;
    const fresh = new Map<string, T>();
    let token: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list(this.kind, {
        namespace: this.selection.namespace,
        labelSelector: this.selection.labelSelector,
        fieldSelector: this.selection.fieldSelector,
        limit: this.opts.pageSize,
        continue: token,
        // stop() must not wait for an answer that may take the list's whole 120 s deadline.
        signal,
      });
      signal.throwIfAborted();
      for (const item of page.items) {
        // Lists carry no kind per item; restore it so that cached objects are complete.
        item.apiVersion ??= this.kind.apiVersion;
        item.kind ??= this.kind.kind;
        const key = objectKey(item);
        const obj = this.shape(item) ?? this.store.get(key);
        if (obj) fresh.set(key, obj);
      }
      token = page.metadata.continue;
      rv ||= page.metadata.resourceVersion ?? '';
    } while (token);
    this.replace(fresh);
    this.resourceVersion = rv;
    this.failures = 0;
    if (!this.synced) {
      await Promise.all(this.chains.values());
      this.synced = true;
      this.log.debug({ objects: this.store.size, resourceVersion: rv }, 'synced');
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** Swaps in a full list, delivering add, update and delete events for the differences. */
  private replace(fresh: Map<string, T>): void {
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) {
        this.remove(key);
        this.dispatch(key, (h) => h.delete?.(old));
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      this.upsert(key, obj);
      if (!old) this.dispatch(key, (h) => h.add?.(obj));
      else if (old.metadata?.uid !== obj.metadata?.uid) {
        // Deleted and made again during the gap: another object, which an update (filtered by
        // predicates such as beyondStatus, or read as a change of the old one) would hide.
        this.dispatch(key, (h) => h.delete?.(old));
        this.dispatch(key, (h) => h.add?.(obj));
      } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.dispatch(key, (h) => h.update?.(old, obj));
    }
  }

  /**
   * One watch from the current resourceVersion. Resolves with how it ended: 'healthy-close'
   * (the server ended a watch that ran its course), 'early-close', 'silent' or 'expired' (410).
   */
  private async watch(signal: AbortSignal): Promise<'healthy-close' | 'early-close' | 'silent' | 'expired'> {
    // Stopped while the list was finishing: an abort listener added now would never fire.
    signal.throwIfAborted();
    const watchAbort = new AbortController();
    const onAbort = () => watchAbort.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const opened = Date.now();
    let res: IncomingMessage | undefined;
    let silent = false;
    let liveness: NodeJS.Timeout | undefined;
    const armLiveness = () => {
      clearTimeout(liveness);
      liveness = setTimeout(() => {
        silent = true;
        watchAbort.abort(new Error('watch went silent'));
      }, this.opts.livenessTimeoutMs);
    };
    // Armed before the request: a server that accepts the connection and never answers would
    // otherwise hold the informer for ever, as watches have no request timeout.
    armLiveness();
    try {
      res = await this.client.watchStream(this.kind, {
        namespace: this.selection.namespace,
        labelSelector: this.selection.labelSelector,
        fieldSelector: this.selection.fieldSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.watchTimeoutSeconds,
        signal: watchAbort.signal,
      });
      res.socket?.setKeepAlive(true, 30_000);
      let gotEvent = false;
      for await (const event of watchEvents<T>(res)) {
        armLiveness();
        if (!gotEvent) {
          gotEvent = true;
          this.failures = 0;
        }
        if (event.type === 'ERROR') {
          const status = event.object as unknown as { code?: number; message?: string };
          if (status.code === 410) {
            this.log.info({ message: status.message }, 'watch expired (410); relisting');
            return 'expired';
          }
          throw new Error(`watch error ${status.code ?? ''}: ${status.message ?? 'unknown'}`);
        }
        this.apply(event);
      }
      // The server ends a watch at timeoutSeconds; anything much sooner is a failure to retry slowly.
      const ranCourse = Date.now() - opened >= this.opts.watchTimeoutSeconds * 1000 * 0.9;
      if (ranCourse) this.failures = 0;
      return ranCourse ? 'healthy-close' : 'early-close';
    } catch (err) {
      if (silent) {
        this.log.warn(
          { timeoutMs: this.opts.livenessTimeoutMs },
          'watch silent past its liveness timeout; restarting',
        );
        return 'silent';
      }
      // A socket's error mid-stream says only "aborted" or "read ECONNRESET": name what broke.
      if (res && typeof (err as NodeJS.ErrnoException).code === 'string' && !signal.aborted)
        throw new Error(`the connection to the API server broke mid-watch: ${(err as Error).message}`);
      throw err;
    } finally {
      clearTimeout(liveness);
      signal.removeEventListener('abort', onAbort);
      res?.destroy();
    }
  }

  private apply(event: WatchEvent<T>): void {
    const rv = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const key = objectKey(event.object);
    const old = this.store.get(key);
    const obj = this.shape(event.object);
    if (event.type === 'DELETED') {
      this.remove(key);
      const last = obj ?? old;
      if (last) this.dispatch(key, (h) => h.delete?.(last));
    } else if (obj) {
      this.upsert(key, obj);
      if (old) this.dispatch(key, (h) => h.update?.(old, obj));
      else this.dispatch(key, (h) => h.add?.(obj));
    }
    if (rv) this.resourceVersion = rv;
  }

  /**
   * The object as cached, or undefined when the transform throws on it: that object keeps its last
   * cached state (if any), as in client-go, rather than the informer failing on it for ever.
   */
  private shape(obj: T): T | undefined {
    try {
      return internStrings(this.opts.transform(obj));
    } catch (err) {
      this.log.error(
        { key: objectKey(obj), err: (err as Error).message },
        'transform failed; object not cached',
      );
      return undefined;
    }
  }

  private upsert(key: string, obj: T): void {
    const old = this.store.get(key);
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const value of fn(obj)) {
        const keys = index.get(value);
        if (keys === undefined) index.set(value, key);
        else if (typeof keys !== 'string') keys.add(key);
        else if (keys !== key) index.set(value, new Set([keys, key]));
      }
    }
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.store.delete(key);
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      for (const value of fn(obj)) {
        const keys = index.get(value);
        if (keys === key) index.delete(value);
        else if (typeof keys === 'object') {
          keys.delete(key);
          if (keys.size === 1) index.set(value, keys.values().next().value!);
        }
      }
    }
  }

  /** Runs `fn` for every handler after the key's earlier events, never concurrently per key. */
  private dispatch(key: string, fn: (h: EventHandlers<T>) => unknown, handlers = this.handlers): void {
    if (handlers.length === 0) return;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const h of handlers) {
        try {
          await fn(h);
        } catch (err) {
          this.log.error({ key, err: (err as Error).message }, 'event handler failed');
        }
      }
    });
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }
}

/** Parses a watch response body (one JSON event per line) into events. */
export async function* watchEvents<T>(res: AsyncIterable<Buffer | string>): AsyncGenerator<WatchEvent<T>> {
  let pending: Buffer[] = [];
  for await (const chunk of res) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    let nl = buf.indexOf(10, start);
    while (nl >= 0) {
      const line = pending.length
        ? Buffer.concat([...pending, buf.subarray(start, nl)])
        : buf.subarray(start, nl);
      pending = [];
      if (line.length > 0) yield JSON.parse(line.toString('utf8')) as WatchEvent<T>;
      start = nl + 1;
      nl = buf.indexOf(10, start);
    }
    if (start < buf.length) pending.push(buf.subarray(start));
  }
  if (pending.length) {
    const rest = Buffer.concat(pending).toString('utf8').trim();
    if (rest) yield JSON.parse(rest) as WatchEvent<T>;
  }
}
