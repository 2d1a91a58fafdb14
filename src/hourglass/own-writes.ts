import { type KubeObject, objectKey } from '../runtime/client/types.js';
import type { Informer } from '../runtime/informer.js';

/** How long a write may go unseen by the informer before the informer is trusted again. */
const DEFAULT_TTL_MS = 30_000;
const PRUNE_ABOVE = 1024;

interface Written<T> {
  readonly obj: T;
  readonly at: number;
  /** A create: any version of this object in the cache is at least as new. */
  readonly created: boolean;
}

/**
 * The objects this process wrote, as the API server returned them, until its informer has seen
 * them. A write's own event brings the next reconcile at once, often before the cache holds the
 * write; that reconcile would otherwise act on the older object and write again: a Pod create that
 * fails AlreadyExists, a finalizer patch that conflicts, a Service applied twice, a status written
 * again with new transition times. Under load those repeats cost the API server as much as the
 * work itself.
 *
 * The cache wins again once it holds the written version (same uid, and same resourceVersion or
 * any version of a created object), once it shows a newer generation or a deletion made since,
 * and after a TTL in any case. resourceVersions are compared for equality only, never ordered.
 */
export class OwnWrites<T extends KubeObject> {
  private readonly entries = new Map<string, Written<T>>();

  constructor(
    private readonly informer: Informer<T>,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    const seen = (o: T) => {
      const key = objectKey(o);
      const e = this.entries.get(key);
      if (e && caughtUp(o, e)) this.entries.delete(key);
    };
    informer.addHandler({
      add: seen,
      update: (_old, o) => seen(o),
      delete: (o) => {
        const key = objectKey(o);
        if (this.entries.get(key)?.obj.metadata?.uid === o.metadata?.uid) this.entries.delete(key);
      },
    });
  }

  /** Records an object as a write (create, patch or apply) returned it. */
  wrote(obj: T, created: boolean): void {
    const key = objectKey(obj);
    // A change to an object whose create the cache has not seen yet is still missing as a whole.
    const previous = this.entries.get(key);
    const unseenCreate = previous?.created === true && previous.obj.metadata?.uid === obj.metadata?.uid;
    const written = { obj, at: this.now(), created: created || unseenCreate };
    const cached = this.informer.get(key);
    if (cached && caughtUp(cached, written)) return;
    this.entries.set(key, written);
    // Entries the informer never confirms (its watch relisted past them) and nobody reads again.
    if (this.entries.size > PRUNE_ABOVE) {
      for (const [k, e] of this.entries) if (this.now() - e.at > this.ttlMs) this.entries.delete(k);
    }
  }

  /** The newest known version of one object: the informer's, or a write it has not seen yet. */
  get(key: string): T | undefined {
    return this.resolve(key, this.informer.get(key));
  }

  /**
   * `cached` (objects from the informer) with the unseen writes that `belongs` accepts put in:
   * replacing the cached version of the same object, or added when the cache has none.
   */
  overlay(cached: readonly T[], belongs: (o: T) => boolean): T[] {
    const out = new Map(cached.map((o) => [objectKey(o), o]));
    for (const [key, e] of this.entries) {
      if (!belongs(e.obj)) continue;
      const newest = this.resolve(key, this.informer.get(key));
      if (newest && newest === e.obj) out.set(key, newest);
    }
    return [...out.values()];
  }

  /** Entries held: for tests and metrics. */
  get size(): number {
    return this.entries.size;
  }

  private resolve(key: string, cached: T | undefined): T | undefined {
    const e = this.entries.get(key);
    if (!e) return cached;
    if (this.now() - e.at > this.ttlMs || (cached && (caughtUp(cached, e) || supersedes(cached, e.obj)))) {
      this.entries.delete(key);
      return cached;
    }
    // A patched object the cache no longer has was deleted since; only a create may be missing.
    if (!cached && !e.created) return undefined;
    return e.obj;
  }
}

function caughtUp<T extends KubeObject>(cached: T, e: Written<T>): boolean {
  return (
    cached.metadata?.uid === e.obj.metadata?.uid &&
    (e.created || cached.metadata?.resourceVersion === e.obj.metadata?.resourceVersion)
  );
}

/** The same object changed by someone else since the write: a spec change or a deletion. */
function supersedes<T extends KubeObject>(cached: T, written: T): boolean {
  const c = cached.metadata;
  const w = written.metadata;
  if (c?.uid !== w?.uid) return false;
  return (c?.generation ?? 0) > (w?.generation ?? 0) || (!!c?.deletionTimestamp && !w?.deletionTimestamp);
}
