import { setTimeout as delay } from 'node:timers/promises';
import type { NetworkIntent } from '../apis/intent.nephoran.com/network-intent.js';
import { type A1PolicyClient, a1PolicyFor } from './a1.js';

/** Policy deletes tried before the finalizer is let go anyway. */
export const A1_DELETE_TRIES = 3;

export interface A1PolicySyncOptions {
  deleteTries?: number;
  /** Pause before the second delete; doubled before each one after. */
  deleteRetryMs?: number;
}

/**
 * Keeps each NetworkIntent's A1 policy in step with its spec and deletes it with the intent.
 * Remembers the body last PUT per intent, so the controller's resyncs repeat no request unless
 * the policy changed (or a PUT failed since); after a restart every policy is PUT once more,
 * which PUT makes harmless.
 */
export class A1PolicySync {
  private readonly lastPut = new Map<string, string>();
  readonly deleteTries: number;
  private readonly deleteRetryMs: number;

  constructor(
    readonly client: A1PolicyClient,
    opts: A1PolicySyncOptions = {},
  ) {
    this.deleteTries = opts.deleteTries ?? A1_DELETE_TRIES;
    this.deleteRetryMs = opts.deleteRetryMs ?? 500;
  }

  /** PUTs the intent's policy unless the same body was PUT last; true when it sent one. */
  async sync(ni: NetworkIntent): Promise<boolean> {
    const uid = ni.metadata!.uid!;
    const body = JSON.stringify(a1PolicyFor(ni));
    if (this.lastPut.get(uid) === body) return false;
    // A failed PUT (a timeout, a 5xx from a gateway) may still have been applied: until one
    // succeeds, what the mediator holds is unknown, and any body must be sent again.
    this.lastPut.delete(uid);
    await this.client.putPolicy(ni);
    this.lastPut.set(uid, body);
    return true;
  }

  /**
   * Forgets the body last PUT for the intent: one whose policy id another intent took over must
   * be PUT again, whatever its spec, when the id comes back to it.
   */
  forget(ni: NetworkIntent): void {
    this.lastPut.delete(ni.metadata!.uid!);
  }

  /** Deletes the intent's policy, trying `deleteTries` times; returns the last error if all failed. */
  async delete(ni: NetworkIntent, signal?: AbortSignal): Promise<Error | undefined> {
    let last: Error | undefined;
    for (let attempt = 0; attempt < this.deleteTries; attempt++) {
      if (attempt > 0) await delay(this.deleteRetryMs * 2 ** (attempt - 1), undefined, { signal });
      try {
        await this.client.deletePolicy(ni);
        last = undefined;
        break;
      } catch (err) {
        last = err as Error;
      }
    }
    this.lastPut.delete(ni.metadata!.uid!);
    return last;
  }
}
