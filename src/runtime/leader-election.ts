import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { CallOptions, KubeClient } from './client/client.js';
import { isAlreadyExists, isConflict, isNotFound } from './client/errors.js';
import { Leases } from './client/kinds.js';
import type { Logger } from './log.js';
import { leaderElectionMasterStatus } from './metrics.js';
import { eitherSignal } from './signals.js';
import { microTime } from './time.js';

/**
 * Milliseconds on a clock that only moves forward at a steady rate, for every duration the
 * election measures (deadlines, expiry), as client-go uses Go's monotonic clock: a wall clock
 * stepped forward would depose a healthy leader and let a standby take its lease, stepped back it
 * would keep a leader that cannot renew leading past a rival's takeover. Only the lease's
 * renewTime and acquireTime, which others read, are wall-clock times.
 */
const monotonicNow = (): number => performance.now();

/** client-go's defaults: how long a lease holds, how long a leader keeps trying to renew, how often. */
export const LEASE_DURATION_MS = 15_000;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_PERIOD_MS = 2_000;

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly leaseName: string;
  readonly leaseNamespace: string;
  /** Unique per process; default `<hostname>_<pid>_<random>`. */
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly logger: Logger;
}

/** Why a term ended when the lease was lost (not renewed in time), rather than given up at shutdown. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

export interface LeadershipCallbacks {
  /**
   * Leadership acquired. `ended` aborts when the term ends: the lease lost (reason: a
   * LeaseLostError) or the elector stopping (reason: any other error). `lost` aborts, with a
   * LeaseLostError, only when the lease is lost, also while the term's work drains at a stop:
   * the lease is renewed until `onStoppedLeading` returns, and released only then.
   */
  onStartedLeading(lost: AbortSignal, ended: AbortSignal): void | Promise<void>;
  /** The term ended: its work is to finish; awaited before candidacy resumes or the lease is released. */
  onStoppedLeading(): void | Promise<void>;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the lease
 * is free or expired (expiry judged by when this process last saw it change, not by clocks of
 * other hosts), renew every retry period, step down when a renewal has not succeeded within the
 * renew deadline, and release the lease on shutdown so another candidate takes over at once.
 */
export class LeaderElector {
  readonly identity: string;
  /**
   * The given client on sockets of its own: renewals queued behind the pool's requests (a
   * manager's reconciles) could miss the renew deadline, and a healthy leader would step down.
   */
  private readonly client: KubeClient;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed?: { holder: string; renewTime: string; at: number; transitions: number };
  private leading = false;
  private reportedMissingNamespace = false;
  /** A write to the lease was cut off by the stop: the server may have taken it, and we hold the lease. */
  private mayHoldLease = false;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    this.client = opts.client.dedicated();
    this.leaseDurationMs = opts.leaseDurationMs ?? LEASE_DURATION_MS;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? RENEW_DEADLINE_MS;
    this.retryPeriodMs = opts.retryPeriodMs ?? RETRY_PERIOD_MS;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs * 1.2)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod');
    }
    leaderElectionMasterStatus.set({ name: opts.leaseName }, 0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until `signal` aborts: acquire, lead until lost, then campaign again. */
  async run(signal: AbortSignal, callbacks: LeadershipCallbacks): Promise<void> {
    const log = this.opts.logger.child({
      lease: `${this.opts.leaseNamespace}/${this.opts.leaseName}`,
      identity: this.identity,
    });
    while (!signal.aborted) {
      log.info('attempting to acquire leader lease');
      let acquiredAt = 0;
      let acquired = false;
      while (!signal.aborted) {
        const attempt = monotonicNow();
        acquired = await this.tryAcquireOrRenew(log, attempt + this.renewDeadlineMs, signal);
        if (acquired) {
          acquiredAt = attempt;
          break;
        }
        await this.sleep(signal, this.retryPeriodMs * (1 + Math.random() * 1.2));
      }
      if (signal.aborted) {
        // Won just as the stop came, or maybe won by a write whose answer the stop cut off: a
        // lease kept would hold a successor off for its whole duration.
        if (acquired || this.mayHoldLease) await this.release(log);
        break;
      }
      log.info('successfully acquired lease');
      this.setLeading(true);
      const lost = new AbortController();
      const ended = new AbortController();
      // Renewals go on after the stop, until the term's work has drained: as in controller-runtime,
      // the lease is held while reconciles finish, or they would write beside a successor.
      const drained = new AbortController();
      const renewing = this.renewUntilLost(drained.signal, log, acquiredAt).then((deposed) => {
        if (deposed) {
          const why = new LeaseLostError(
            'leader lease lost: renewal did not succeed within the renew deadline',
          );
          log.error(why.message);
          this.setLeading(false);
          lost.abort(why);
          ended.abort(why);
        }
        return deposed;
      });
      const leading = Promise.resolve(callbacks.onStartedLeading(lost.signal, ended.signal));
      const stopped = untilAborted(signal);
      await Promise.race([renewing, stopped.promise]);
      stopped.dispose();
      if (!lost.signal.aborted) {
        ended.abort(new Error('leadership released: stopping'));
        await leading.catch(() => {});
        await callbacks.onStoppedLeading();
        drained.abort();
        const deposed = await renewing;
        this.setLeading(false);
        // Lost while draining: the lease may be a rival's already.
        if (!deposed) await this.release(log);
        return;
      }
      await leading.catch(() => {});
      await callbacks.onStoppedLeading();
    }
  }

  private setLeading(value: boolean): void {
    this.leading = value;
    leaderElectionMasterStatus.set({ name: this.opts.leaseName }, value ? 1 : 0);
  }

  private async sleep(signal: AbortSignal, ms: number): Promise<void> {
    await delay(ms, undefined, { signal }).catch(() => {});
  }

  /**
   * Renews until a renewal has not succeeded within the renew deadline (resolves true: deposed)
   * or until `signal` aborts (false; an attempt under way is cut off). `lastRenew` is when the last
   * successful attempt began: the lease's renewTime, from which rivals count.
   */
  private async renewUntilLost(signal: AbortSignal, log: Logger, lastRenew: number): Promise<boolean> {
    while (!signal.aborted) {
      const deadline = lastRenew + this.renewDeadlineMs;
      // A renewal that took long leaves less of the window: the pause never takes the next attempt
      // closer to the deadline than a retry period (or past what is left), else a slow but
      // successful renewal would be followed by none at all, and a healthy leader step down.
      await this.sleep(
        signal,
        Math.min(this.retryPeriodMs, Math.max(0, deadline - monotonicNow() - this.retryPeriodMs)),
      );
      if (signal.aborted) return false;
      // Keep retrying within this period's window; give up once the deadline has passed.
      let renewed = false;
      while (!renewed && monotonicNow() < deadline && !signal.aborted) {
        const attempt = monotonicNow();
        renewed = await this.tryAcquireOrRenew(log, deadline, signal);
        if (renewed) lastRenew = attempt;
        else await delay(Math.min(500, this.retryPeriodMs / 4), undefined, { signal }).catch(() => {});
      }
      if (signal.aborted) return false;
      if (!renewed) return true;
    }
    return false;
  }

  /**
   * One attempt, cut off at `deadline`: an API server that stops answering would otherwise hold
   * it for the client's 30 s request timeout, past the lease's expiry, while a rival takes the
   * lease and both lead. Cut off by `stop` too: a candidate stopping does not wait for it.
   */
  private async tryAcquireOrRenew(log: Logger, deadline: number, stop: AbortSignal): Promise<boolean> {
    const { client } = this;
    const { leaseName: name, leaseNamespace: namespace } = this.opts;
    const now = microTime();
    const leaseSeconds = Math.round(this.leaseDurationMs / 1000);
    const overdue = new AbortController();
    const timer = setTimeout(
      () => overdue.abort(new Error(`no answer within the renew deadline (${this.renewDeadlineMs} ms)`)),
      Math.max(0, deadline - monotonicNow()),
    );
    const cutOff = eitherSignal(stop, overdue.signal);
    const call = { signal: cutOff.signal };
    let writing = false;
    try {
      const lease = await client.find(Leases, name, namespace, call);
      if (!lease) {
        writing = true;
        await this.createLease(log, call, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        });
        this.observe(this.identity, now, 0);
        this.reportedMissingNamespace = false;
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      this.observe(holder, spec.renewTime ?? '', spec.leaseTransitions ?? 0);
      const heldByOther = holder !== '' && holder !== this.identity;
      const expiresAt = this.observed!.at + (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
      if (heldByOther && monotonicNow() < expiresAt) return false;
      const acquiring = holder !== this.identity;
      const updated: Lease = {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.identity,
          leaseDurationSeconds: leaseSeconds,
          renewTime: now,
          acquireTime: acquiring ? now : spec.acquireTime,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (acquiring && holder !== '' ? 1 : 0),
        },
      };
      // The resourceVersion in `updated` makes this a compare-and-swap: a rival's write wins.
      writing = true;
      const written = await client.replace(updated, call);
      this.observe(this.identity, now, written.spec?.leaseTransitions ?? 0);
      return true;
    } catch (err) {
      if (writing && stop.aborted) this.mayHoldLease = true;
      if (!isConflict(err) && !isAlreadyExists(err) && !isNotFound(err) && !stop.aborted) {
        log.warn({ err: (err as Error).message }, 'error retrieving or updating the lease');
      }
      return false;
    } finally {
      clearTimeout(timer);
      cutOff.dispose();
    }
  }

  /**
   * Creates the lease. Its namespace missing is a NotFound too, but no rival's doing: without
   * saying so a candidate would wait silently for ever. Said once per streak of failures.
   */
  private async createLease(log: Logger, call: CallOptions, lease: Lease): Promise<void> {
    try {
      await this.client.create<Lease>(lease, call);
    } catch (err) {
      if (isNotFound(err) && !this.reportedMissingNamespace) {
        this.reportedMissingNamespace = true;
        log.error(
          { namespace: this.opts.leaseNamespace, err: (err as Error).message },
          `cannot create the leader lease: namespace ${this.opts.leaseNamespace} does not exist; create it or choose another lease namespace (still retrying)`,
        );
      }
      throw err;
    }
  }

  private observe(holder: string, renewTime: string, transitions: number): void {
    const o = this.observed;
    if (!o || o.holder !== holder || o.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: monotonicNow(), transitions };
    }
  }

  /**
   * Gives the lease up (holder cleared, 1 s duration) so another candidate takes over at once;
   * within the renew deadline, so that an API server that does not answer cannot hold up a
   * shutdown (the lease then expires by itself).
   */
  private async release(log: Logger): Promise<void> {
    const { client } = this;
    const { leaseName: name, leaseNamespace: namespace } = this.opts;
    const call = { signal: AbortSignal.timeout(this.renewDeadlineMs) };
    try {
      const lease = await client.get(Leases, name, namespace, call);
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime();
      await client.replace<Lease>(
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: now,
            acquireTime: now,
          },
        },
        call,
      );
      log.info('released leader lease');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'failed to release the leader lease');
    }
  }
}

/** A promise that resolves once `signal` aborts; `dispose` drops its listener. */
function untilAborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
