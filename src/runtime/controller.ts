import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeClient } from './client/client.js';
import { type Kind, type KubeObject, objectKey, splitKey } from './client/types.js';
import type { Informer } from './informer.js';
import type { Logger } from './log.js';
import {
  activeWorkers,
  maxConcurrentReconciles,
  reconcileErrors,
  reconcileTime,
  reconcileTotal,
  terminalReconcileErrors,
} from './metrics.js';
import { type Reconciler, type Result, TerminalError } from './reconcile.js';
import { type Priority, WorkQueue } from './workqueue.js';

/** Where a controller gets its shared informers from (the manager's cache). */
export interface InformerSource {
  informer<T extends KubeObject>(
    kind: Kind<T>,
    opts?: { namespace?: string; labelSelector?: string },
  ): Informer<T>;
}

export type MapFunc<T extends KubeObject> = (obj: T) => readonly string[];

interface Watch {
  kind: Kind;
  map: MapFunc<KubeObject>;
  namespace?: string;
  labelSelector?: string;
  /** Which updates enqueue; every one when absent. */
  updates?: (oldObj: KubeObject, newObj: KubeObject) => boolean;
  priority?: Priority;
}

/**
 * An update of more than status: a new generation (the spec), or a change to the metadata a
 * reconcile acts on. For a controller that writes its objects' status itself, whose own status
 * writes would otherwise each bring a reconcile with nothing to do (controller-runtime's
 * GenerationChangedPredicate, widened to deletion, finalizers, labels and annotations).
 */
export function beyondStatus(oldObj: KubeObject, newObj: KubeObject): boolean {
  const o = oldObj.metadata ?? {};
  const n = newObj.metadata ?? {};
  return (
    o.generation !== n.generation ||
    o.deletionTimestamp !== n.deletionTimestamp ||
    !isDeepStrictEqual(o.finalizers, n.finalizers) ||
    !isDeepStrictEqual(o.labels, n.labels) ||
    !isDeepStrictEqual(o.annotations, n.annotations)
  );
}

export interface ControllerOptions {
  readonly name: string;
  readonly client: KubeClient;
  readonly informers: InformerSource;
  readonly logger: Logger;
  readonly workers?: number;
}

/**
 * Reconciles objects of one kind: events of the primary kind, of owned kinds (mapped to their
 * controlling owner) and of watched kinds (mapped by a function) enqueue keys; workers reconcile
 * each key, never two at once for the same key; failures come back with per-key backoff.
 * Owned kinds' events go ahead of the rest: in a burst of new objects, one whose child became
 * ready is finished at once instead of after every new one has been started.
 */
export class Controller {
  private readonly sources: Watch[] = [];
  private primary?: Watch;
  private reconciler?: Reconciler;
  private queue?: WorkQueue<string>;
  private abort?: AbortController;
  private workersDone?: Promise<void>;
  private handlersRegistered = false;
  private readonly workers: number;
  /** What reconciles get as ctx.client: for a leader-only controller, fenced by the term. */
  private client: KubeClient;

  constructor(private readonly opts: ControllerOptions) {
    this.workers = opts.workers ?? 1;
    this.client = opts.client;
  }

  get name(): string {
    return this.opts.name;
  }

  /**
   * The kind this controller reconciles; its own events enqueue its own key (updates only when
   * `updates` accepts them, e.g. `beyondStatus`).
   */
  for<T extends KubeObject>(
    kind: Kind<T>,
    opts: { namespace?: string; labelSelector?: string; updates?: (oldObj: T, newObj: T) => boolean } = {},
  ): this {
    this.primary = { kind, map: (o) => [objectKey(o)], ...(opts as Omit<Watch, 'kind' | 'map'>) };
    this.sources.push(this.primary);
    return this;
  }

  /** A kind this controller creates: a child's events enqueue its controlling owner. */
  owns<T extends KubeObject>(kind: Kind<T>, opts: { namespace?: string; labelSelector?: string } = {}): this {
    const owner = () => this.primary?.kind;
    this.sources.push({
      kind,
      ...opts,
      priority: 'high',
      map: (o) => {
        const ownerKind = owner();
        const ref = o.metadata?.ownerReferences?.find(
          (r) =>
            r.controller &&
            ownerKind &&
            r.kind === ownerKind.kind &&
            sameGroup(r.apiVersion, ownerKind.apiVersion),
        );
        if (!ref) return [];
        // A namespaced owner shares its child's namespace; a cluster-scoped one is keyed by name.
        const ns = o.metadata?.namespace;
        return [ns && this.cache().namespaced !== false ? `${ns}/${ref.name}` : ref.name];
      },
    });
    return this;
  }

  /** Any other kind: `map` says which keys of the primary kind an event concerns. */
  watches<T extends KubeObject>(
    kind: Kind<T>,
    map: MapFunc<T>,
    opts: { namespace?: string; labelSelector?: string } = {},
  ): this {
    this.sources.push({ kind, map: map as MapFunc<KubeObject>, ...opts });
    return this;
  }

  reconcile(fn: Reconciler): this {
    this.reconciler = fn;
    return this;
  }

  /** Enqueues a key by hand (e.g. from a timer or an external event). */
  enqueue(key: string): void {
    this.queue?.add(key);
  }

  /** The informer of the primary kind, for reading the cache inside reconcile. */
  cache<T extends KubeObject>(): Informer<T> {
    if (!this.primary) throw new Error(`controller ${this.name} has no primary kind (call for())`);
    return this.opts.informers.informer(this.primary.kind, this.primary) as unknown as Informer<T>;
  }

  /** Informers this controller needs, so the manager can start them and wait for their sync. */
  informers(): Informer[] {
    return this.sources.map((w) => this.opts.informers.informer(w.kind, w));
  }

  /**
   * Starts the workers; events start flowing into the queue; reconciles get `client`. Resolves
   * once they have stopped; rejects if a worker loop breaks (the manager then stops with that error).
   */
  start(client = this.opts.client): Promise<void> {
    if (!this.primary || !this.reconciler)
      throw new Error(`controller ${this.name} needs for() and reconcile()`);
    if (this.queue) return this.workersDone!;
    this.client = client;
    this.queue = new WorkQueue<string>({ name: this.name });
    this.abort = new AbortController();
    if (!this.handlersRegistered) {
      this.handlersRegistered = true;
      for (const w of this.sources) {
        const enqueue = (o: KubeObject) => {
          for (const key of w.map(o)) this.queue?.add(key, w.priority);
        };
        this.opts.informers.informer(w.kind, w).addHandler({
          add: enqueue,
          update: (oldObj, newObj) => {
            if (w.updates && !w.updates(oldObj, newObj)) return;
            enqueue(newObj);
            // An owner change moves a child between owners: both must hear about it.
            if (w !== this.primary) enqueue(oldObj);
          },
          delete: enqueue,
        });
      }
    } else {
      // Restarted (leadership regained): everything cached may have changed meanwhile.
      for (const key of this.cache().keys()) this.queue.add(key);
    }
    maxConcurrentReconciles.set({ controller: this.name }, this.workers);
    const loops = Array.from({ length: this.workers }, () => this.work(this.queue!, this.abort!.signal));
    this.workersDone = Promise.all(loops).then(() => {});
    return this.workersDone;
  }

  /** Stops intake and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    this.abort?.abort(new Error(`controller ${this.name} stopping`));
    await queue.shutDownWithDrain();
    // A broken worker loop is reported through start()'s promise.
    await this.workersDone?.catch(() => {});
    this.queue = undefined;
  }

  private async work(queue: WorkQueue<string>, signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      activeWorkers.inc({ controller: this.name });
      try {
        await this.reconcileKey(queue, key, signal);
      } finally {
        activeWorkers.dec({ controller: this.name });
        queue.done(key);
      }
    }
  }

  private async reconcileKey(queue: WorkQueue<string>, key: string, signal: AbortSignal): Promise<void> {
    const reconcileId = randomUUID();
    const { namespace, name } = splitKey(key);
    const log = this.opts.logger.child({
      controller: this.name,
      key,
      namespace,
      name,
      reconcileID: reconcileId,
    });
    const started = performance.now();
    let result: Result;
    try {
      result =
        (await this.reconciler!(
          { key, namespace, name },
          { client: this.client, log, reconcileId, signal },
        )) ?? undefined;
    } catch (err) {
      reconcileErrors.inc({ controller: this.name });
      if (err instanceof TerminalError) {
        terminalReconcileErrors.inc({ controller: this.name });
        reconcileTotal.inc({ controller: this.name, result: 'error' });
        queue.forget(key);
        log.error({ err: err.message }, 'Reconciler error (terminal; not retried)');
      } else {
        reconcileTotal.inc({ controller: this.name, result: 'error' });
        log.error({ err: (err as Error).message, retries: queue.numRequeues(key) }, 'Reconciler error');
        queue.addRateLimited(key);
      }
      return;
    } finally {
      reconcileTime.observe({ controller: this.name }, (performance.now() - started) / 1000);
    }
    if (result && 'requeueAfterMs' in result) {
      reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
      queue.forget(key);
      queue.addAfter(key, result.requeueAfterMs);
    } else if (result && 'requeue' in result) {
      reconcileTotal.inc({ controller: this.name, result: 'requeue' });
      queue.addRateLimited(key);
    } else {
      reconcileTotal.inc({ controller: this.name, result: 'success' });
      queue.forget(key);
    }
  }
}

function sameGroup(a: string, b: string): boolean {
  const group = (v: string) => (v.includes('/') ? v.slice(0, v.indexOf('/')) : '');
  return group(a) === group(b);
}
