import { hostname } from 'node:os';
import type { Node } from 'kubernetes-types/core/v1.js';
import {
  CONDITION_AVAILABLE,
  type Performer,
  Performers,
} from '../apis/hourglass.eigenlayer.io/performer.js';
import { Nodes, Pods, Services } from '../runtime/client/kinds.js';
import { objectKey } from '../runtime/client/types.js';
import type { Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Manager } from '../runtime/manager.js';
import { requeueAfter } from '../runtime/reconcile.js';
import { performerEvents } from './events.js';
import { type ReconcileOptions, reconcilePerformer } from './reconcile.js';

export const PERFORMER_CONTROLLER = 'performer';

export interface PerformerControllerOptions extends Omit<ReconcileOptions, 'nodes' | 'now'> {
  readonly workers?: number;
  /** Watch Performers, Pods and Services in this namespace only; every namespace when absent. */
  readonly namespace?: string;
}

/**
 * The Performer controller: `reconcilePerformer` run on every change to a Performer, its Pods or
 * its Service, and again when a Pod's Pending deadline or a recreation backoff comes due.
 */
export function setupPerformerController(mgr: Manager, options: PerformerControllerOptions = {}): Controller {
  const { workers = 2, namespace, ...reconcileOptions } = options;
  const scope = namespace ? { namespace } : {};
  const performers = mgr.informer<Performer>(Performers, scope);
  const nodes = mgr.informer<Node>(Nodes);
  const recorder = new EventRecorder(
    mgr.client,
    'hourglass.eigenlayer.io/performer-controller',
    process.env['POD_NAME'] ?? hostname(),
    mgr.log,
  );
  return (
    mgr
      .controller(PERFORMER_CONTROLLER, { workers })
      .for(Performers, scope)
      .owns(Pods, scope)
      .owns(Services, scope)
      // Only Performers no node could host care about Node changes: a new or relabelled node may
      // host them now. Everything else is re-checked on its own Pod's events.
      .watches(Nodes, () =>
        performers
          .list()
          .filter(isHardwareUnavailable)
          .map((p) => objectKey(p)),
      )
      .reconcile(async (req, ctx) => {
        const performer = performers.get(req.key);
        if (!performer) return; // gone: its finalizer already let it go
        const result = await reconcilePerformer(ctx.client, performer, {
          ...reconcileOptions,
          nodes: nodes.list(),
        });
        for (const e of performerEvents(performer.status, result.status)) {
          await recorder.record(performer, e.type, e.reason, e.action, e.note);
        }
        if (result.requeueAfterMs !== undefined) return requeueAfter(result.requeueAfterMs);
      })
  );
}

function isHardwareUnavailable(p: Performer): boolean {
  return (
    p.status?.conditions?.some(
      (c) => c.type === CONDITION_AVAILABLE && c.status === 'False' && c.reason === 'HardwareUnavailable',
    ) === true
  );
}
