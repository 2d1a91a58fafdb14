import type { KubeClient } from './client/client.js';
import type { Logger } from './log.js';

/** What a reconcile is asked to do: bring the object with this key to its desired state. */
export interface Request {
  /** `namespace/name`, or `name` for a cluster-scoped object. */
  readonly key: string;
  readonly namespace?: string;
  readonly name: string;
}

/** What a reconcile may answer; returning nothing means done until the next event. */
export type Result = undefined | { readonly requeueAfterMs: number } | { readonly requeue: true };

export interface ReconcileContext {
  readonly client: KubeClient;
  /** Carries controller, key and reconcileID. */
  readonly log: Logger;
  readonly reconcileId: string;
  /** Aborted when the controller stops (shutdown or lost leadership). */
  readonly signal: AbortSignal;
}

/** Resolves with a Result, or with nothing (the same as undefined: done). */
// biome-ignore lint/suspicious/noConfusingVoidType: lets reconcilers simply `return;`
export type Reconciler = (req: Request, ctx: ReconcileContext) => Promise<Result | void>;

/**
 * An error that retrying cannot fix (an invalid spec, say): the key is not requeued; the next
 * change to the object brings it back.
 */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export const requeueAfter = (ms: number): Result => ({ requeueAfterMs: ms });
