import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { KubeClient } from './client/client.js';
import type { Kind, KubeObject } from './client/types.js';
import { Controller, type InformerSource } from './controller.js';
import { HealthServer } from './health-server.js';
import { Informer, type InformerOptions } from './informer.js';
import { LeaderElector } from './leader-election.js';
import { componentLogger, type Logger } from './log.js';
import { within } from './wait.js';

/** Something the manager runs besides controllers: a server, a periodic loop. */
export interface Runnable {
  readonly name: string;
  /** Started only while this process leads (default true), like controllers. */
  readonly needLeaderElection?: boolean;
  /**
   * Runs until `signal` aborts; resolves once stopped. Throwing or rejecting before then stops
   * the manager with that error, as controller-runtime's manager does. `client` is the manager's;
   * for a leader-only runnable, fenced by the term: it refuses every request once the lease is lost.
   */
  start(signal: AbortSignal, client?: KubeClient): Promise<void>;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  /** Used for the lease name and in logs. */
  readonly name: string;
  /** Leader election on a Lease named `<name>` (or `leaseName`) in `leaseNamespace`. */
  readonly leaderElection?: {
    leaseNamespace: string;
    leaseName?: string;
    identity?: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  /** Port of /healthz, /readyz and /metrics; 0 picks a free one; undefined serves none. */
  readonly healthPort?: number;
  readonly healthHost?: string;
  /** Graceful stop budget: in-flight reconciles get this long to finish. */
  readonly gracefulShutdownMs?: number;
  readonly logger?: Logger;
  /** Options for every informer this manager creates (timeouts, backoff). */
  readonly informerDefaults?: Omit<
    InformerOptions<KubeObject>,
    'namespace' | 'labelSelector' | 'fieldSelector'
  >;
}

/** How something set up beside a manager is released: a server closed, a database client closed. */
export type StopHook = () => void | Promise<void>;

/** SIGTERM to exit: the budget Kubernetes' default terminationGracePeriodSeconds allows. */
export const GRACEFUL_SHUTDOWN_MS = 30_000;

/** What a stop keeps of its budget to release the lease once the term's work has drained. */
const RELEASE_RESERVE_MS = 3_000;

/**
 * Runs a process's controllers: one shared informer per kind and selection, started at once and
 * required to sync before /readyz passes; controllers and leader-only runnables run while this
 * process holds the lease (or always, without leader election); SIGTERM stops everything in order
 * within the graceful budget, releasing the lease.
 */
export class Manager implements InformerSource {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly health?: HealthServer;
  private readonly informersByKey = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private readonly runnables: Runnable[] = [];
  private elector?: LeaderElector;
  private abort?: AbortController;
  private running?: Promise<void>;
  /** Runnables that run whether or not this process leads. */
  private leaderWork: Promise<void>[] = [];
  /** Leader-only runnables of the current term, awaited when it ends. */
  private termWork: Promise<void>[] = [];
  private leaderAbort?: AbortController;
  /** The current term's fence: aborting it makes the term's client refuse every request. */
  private fence?: AbortController;
  /** Set by a stop: when the term's work must have drained (performance.now(): a wall-clock step moves it not). */
  private drainDeadline?: number;
  private stopping?: Promise<void>;
  /** What stopped the manager, when something it ran failed. */
  private failure?: Error;
  private exitWhenStopped = false;
  /** What `onStop` registered and has not run yet. */
  private stopHooks: { name: string; fn: StopHook }[] = [];
  /** Set once the hooks ran: one registered later runs at once, as nothing would run it. */
  private released = false;
  healthPort?: number;

  constructor(private readonly opts: ManagerOptions) {
    this.client = opts.client;
    this.log = opts.logger ?? componentLogger(opts.name);
    if (opts.healthPort !== undefined) {
      this.health = new HealthServer({ port: opts.healthPort, host: opts.healthHost });
      this.health.addHealthCheck('ping', () => true);
      // Fails from the moment something the manager runs has failed, through the graceful stop.
      this.health.addHealthCheck('runnables', () => {
        if (this.failure) throw this.failure;
        return true;
      });
      this.health.addReadyCheck('informers-synced', () => {
        const waiting = this.unsynced();
        if (waiting.length) throw new Error(`not synced: ${waiting.join('; ')}`);
        return true;
      });
    }
  }

  get identity(): string | undefined {
    return this.elector?.identity;
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : !!this.running;
  }

  /**
   * The shared informer for a kind and selection, created on first use. `transform` shapes what
   * is cached (default: all but managedFields); the first call for a selection sets it.
   */
  informer<T extends KubeObject>(
    kind: Kind<T>,
    sel: { namespace?: string; labelSelector?: string; transform?: (obj: T) => T } = {},
  ): Informer<T> {
    const key = `${kind.apiVersion}/${kind.kind}|${sel.namespace ?? ''}|${sel.labelSelector ?? ''}`;
    let inf = this.informersByKey.get(key);
    if (!inf) {
      inf = new Informer(this.client, kind as Kind<KubeObject>, {
        ...this.opts.informerDefaults,
        namespace: sel.namespace,
        labelSelector: sel.labelSelector,
        ...(sel.transform ? { transform: sel.transform as unknown as (obj: KubeObject) => KubeObject } : {}),
        logger: this.log,
      });
      this.informersByKey.set(key, inf);
      if (this.running) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /** A new controller, started with the manager: `mgr.controller('x').for(K).owns(P).reconcile(fn)`. */
  controller(name: string, opts: { workers?: number } = {}): Controller {
    if (this.controllers.some((c) => c.name === name))
      throw new Error(`a controller named ${name} already exists`);
    const c = new Controller({
      name,
      client: this.client,
      informers: this,
      logger: this.log,
      workers: opts.workers,
    });
    this.controllers.push(c);
    return c;
  }

  add(runnable: Runnable): void {
    this.runnables.push(runnable);
  }

  /**
   * Releases what a setup opened beside the manager (a server listening, a database client) once
   * the manager stops, whatever stops it: `stop()` (also when `start()` was never called, as after
   * a setup that failed part-way), a failure, or a `start()` that fails or is called off. Hooks run
   * once, together, after the manager's own shutdown (reconciles have drained and may no longer use
   * what they release), within what is left of the graceful budget; one that throws is logged and
   * keeps no other from running. Registered after the manager stopped, a hook runs at once.
   */
  onStop(name: string, fn: StopHook): void {
    if (this.released) void this.runHooks([{ name, fn }]);
    else this.stopHooks.push({ name, fn });
  }

  hasSynced(): boolean {
    return this.unsynced().length === 0;
  }

  /** What the informers that have not synced yet list and watch. */
  unsynced(): string[] {
    return [...this.informersByKey.values()].filter((i) => !i.hasSynced()).map((i) => i.target);
  }

  /**
   * Starts everything; resolves once the informers have synced (leadership may come later).
   * `signal` calls the start off: the manager stops as `stop()` does (a lease it won is released,
   * the `onStop` hooks run) and the start rejects with the signal's reason. A start that fails (the
   * health port taken) stops it the same way, and rejects with its error. Neither ends the
   * process, even after `stopOnSignals()`: that is the caller's, once it has said why.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.running) throw new Error('manager already started');
    if (signal?.aborted) {
      // Nothing started: only what the setups opened is left to release.
      await this.releaseWithin(this.opts.gracefulShutdownMs ?? GRACEFUL_SHUTDOWN_MS);
      throw signal.reason;
    }
    const stopOnAbort = () => void this.stopStarting();
    const stopWhenAborted = () => {
      if (signal?.aborted) stopOnAbort();
      else signal?.addEventListener('abort', stopOnAbort, { once: true });
    };
    try {
      await this.startUntilSynced(stopWhenAborted);
      signal?.throwIfAborted();
    } catch (err) {
      await this.stopStarting();
      throw signal?.aborted ? signal.reason : err;
    } finally {
      signal?.removeEventListener('abort', stopOnAbort);
    }
    this.log.info(
      { informers: this.informersByKey.size, controllers: this.controllers.length },
      'caches synced',
    );
  }

  /** `onStarted` is called once everything has started, so that `stop()` stops all of it. */
  private async startUntilSynced(onStarted: () => void): Promise<void> {
    this.abort = new AbortController();
    this.stopping = undefined;
    this.drainDeadline = undefined;
    this.released = false;
    this.failure = undefined;
    const signal = this.abort.signal;
    // Every informer waiting to sync and every runnable listens on it: many listeners, no leak.
    setMaxListeners(0, signal);
    if (this.health) {
      this.healthPort = await this.health.start();
      this.log.info({ port: this.healthPort }, 'serving /healthz, /readyz and /metrics');
    }
    for (const c of this.controllers) c.informers();
    for (const inf of this.informersByKey.values()) inf.start();
    for (const r of this.runnables.filter((r) => r.needLeaderElection === false)) {
      this.leaderWork.push(this.runRunnable(r, signal, this.client));
    }
    let ready!: () => void;
    const synced = new Promise<void>((resolve) => (ready = resolve));
    this.running = (async () => {
      await Promise.all([...this.informersByKey.values()].map((i) => i.waitForSync(signal))).catch(() => {});
      ready();
      if (signal.aborted) return;
      const le = this.opts.leaderElection;
      if (!le) {
        await this.lead(signal, undefined);
        // Something started by lead() may have failed, and so stopped the manager, already.
        if (!signal.aborted)
          await new Promise<void>((resolve) =>
            signal.addEventListener('abort', () => resolve(), { once: true }),
          );
        await this.stopLeading();
        return;
      }
      this.elector = new LeaderElector({
        client: this.client,
        leaseName: le.leaseName ?? this.opts.name,
        leaseNamespace: le.leaseNamespace,
        identity: le.identity,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        logger: this.log,
      });
      await this.elector.run(signal, {
        onStartedLeading: (lost, ended) => this.lead(ended, lost),
        onStoppedLeading: () => this.stopLeading(),
      });
    })();
    onStarted();
    await synced;
  }

  /**
   * Graceful stop: controllers drain (within the budget), the lease is released, informers stop,
   * then the `onStop` hooks run. Resolves once stopped, also when called again meanwhile. On a
   * manager never started, it only runs the hooks.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown(this.abort, true);
    return this.stopping;
  }

  /** A start that failed or was called off stops as `stop()` does, but leaves the process to its caller. */
  private stopStarting(): Promise<void> {
    this.stopping ??= this.shutDown(this.abort, false);
    return this.stopping;
  }

  /** `abort` is undefined when the manager never started: only the hooks are left to run. */
  private async shutDown(abort: AbortController | undefined, mayExit: boolean): Promise<void> {
    const budget = this.opts.gracefulShutdownMs ?? GRACEFUL_SHUTDOWN_MS;
    if (!abort) {
      await this.releaseWithin(budget);
      return;
    }
    this.log.info({ budgetMs: budget }, 'stopping');
    const deadline = performance.now() + budget;
    // The lease is released after the drain: leave it part of the budget.
    this.drainDeadline = deadline - Math.min(RELEASE_RESERVE_MS, budget / 4);
    abort.abort(new Error('manager stopping'));
    const done = (async () => {
      await this.running;
      await Promise.all(this.leaderWork);
      await Promise.all([...this.informersByKey.values()].map((i) => i.stop()));
      await this.health?.stop();
    })();
    if ((await within(done, budget)) === 'timeout') {
      this.log.error({ budgetMs: budget }, 'graceful stop exceeded its budget; abandoning in-flight work');
    }
    this.running = undefined;
    await this.releaseWithin(deadline - performance.now());
    if (this.failure) this.log.error({ err: this.failure.message }, 'stopped after a failure');
    else this.log.info('stopped');
    // A failure is the process's end too: its exit status and a restart are what tell the operator.
    if (this.exitWhenStopped && mayExit) process.exit(this.failure ? 1 : 0);
  }

  /** Runs the hooks, waiting for them up to `ms`; past it they go on, unawaited. */
  private async releaseWithin(ms: number): Promise<void> {
    this.released = true;
    const hooks = this.stopHooks.splice(0);
    if (!hooks.length) return;
    if ((await within(this.runHooks(hooks), Math.max(ms, 0))) === 'timeout') {
      this.log.error(
        { hooks: hooks.map((h) => h.name) },
        'releasing what was set up exceeded the graceful budget; not waiting for it',
      );
    }
  }

  /** Runs every hook at once; one that throws is logged and keeps no other from running. */
  private async runHooks(hooks: readonly { name: string; fn: StopHook }[]): Promise<void> {
    await Promise.all(
      hooks.map(async ({ name, fn }) => {
        try {
          await fn();
        } catch (err) {
          this.log.error(
            { hook: name, err: err instanceof Error ? err.message : String(err) },
            `stop hook ${name} failed`,
          );
        }
      }),
    );
  }

  /**
   * The manager owns the process: SIGTERM and SIGINT stop it gracefully, then exit 0; when
   * something it runs fails, it stops gracefully and exits 1 (a pod restarts, its restart count
   * and last log lines say why); when the lease is lost, it exits 1 at once, as client-go's
   * components do, so that nothing this process started writes as a leader it no longer is.
   * Without `exit`, signals only stop the manager.
   */
  stopOnSignals(exit = true): void {
    this.exitWhenStopped = exit;
    const onSignal = (sig: NodeJS.Signals) => {
      this.log.info({ signal: sig }, 'signal received; shutting down');
      void this.stop();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  /**
   * Something the manager runs failed: stop with its error. Only the first counts; one that
   * fails as it is told to stop is no failure.
   */
  private fail(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (this.failure || !this.abort || this.abort.signal.aborted) {
      this.log.error({ failed: what, err: message }, `${what} failed while the manager stopped`);
      return;
    }
    this.failure = new Error(`${what} failed: ${message}`, { cause: err });
    this.log.error({ failed: what, err: message }, `${what} failed; stopping the manager`);
    void this.stop();
  }

  /**
   * Starts a term's controllers and leader-only runnables; they stop when `ended` aborts. `lost`
   * (leader election only) aborts when the lease is lost, also while they drain at a stop: it
   * trips the fence on the term's client.
   */
  private async lead(ended: AbortSignal, lost: AbortSignal | undefined): Promise<void> {
    const leaderAbort = new AbortController();
    this.leaderAbort = leaderAbort;
    // Aborted only when the lease is lost (or a stop gives up on the term's work): a graceful
    // stop still holds the lease while work drains.
    const fence = new AbortController();
    this.fence = fence;
    // Every request of the term listens on it.
    setMaxListeners(0, fence.signal);
    lost?.addEventListener(
      'abort',
      () => {
        fence.abort(lost.reason);
        if (this.exitWhenStopped) {
          // Code may write through clients the fence does not cover (one captured at setup).
          this.log.error({ err: (lost.reason as Error).message }, 'leader election lost; exiting');
          process.exit(1);
        }
      },
      { once: true },
    );
    ended.addEventListener('abort', () => leaderAbort.abort(ended.reason), { once: true });
    const client = this.opts.leaderElection ? this.client.fencedBy(fence.signal) : this.client;
    const term = leaderAbort.signal;
    for (const c of this.controllers)
      this.termWork.push(this.supervise(`controller ${c.name}`, term, () => c.start(client)));
    for (const r of this.runnables.filter((r) => r.needLeaderElection !== false)) {
      this.termWork.push(this.runRunnable(r, term, client));
    }
    this.log.info({ controllers: this.controllers.map((c) => c.name) }, 'controllers started');
  }

  /**
   * Ends a term: controllers drain and leader-only runnables return before candidacy resumes, so
   * that a term regained never runs beside the rest of the last one.
   */
  private async stopLeading(): Promise<void> {
    this.leaderAbort?.abort(new Error('leadership ended'));
    const drained = Promise.all([...this.controllers.map((c) => c.stop()), ...this.termWork.splice(0)]).then(
      () => {},
    );
    // At a stop, the lease is renewed while the work drains, but only within the graceful budget:
    // past it the work is given up, and writes no more, so that the lease can be released.
    const deadline = this.drainDeadline;
    const waitMs = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
    if (waitMs !== undefined && (await within(drained, waitMs)) === 'timeout') {
      this.fence?.abort(new Error('leadership released: the graceful stop gave up on work still running'));
      this.log.error('controllers did not stop within the graceful budget; giving them up');
      return;
    }
    await drained;
    this.log.info('controllers stopped');
  }

  private runRunnable(r: Runnable, signal: AbortSignal, client: KubeClient): Promise<void> {
    return this.supervise(`runnable ${r.name}`, signal, () => r.start(signal, client));
  }

  /** Runs `run` until `signal` aborts; a failure before then stops the manager. */
  private async supervise(what: string, signal: AbortSignal, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      if (!signal.aborted) this.fail(what, err);
    }
  }
}
