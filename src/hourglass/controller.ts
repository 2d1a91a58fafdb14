import { hostname } from 'node:os';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import {
  CONDITION_AVAILABLE,
  type Performer,
  Performers,
} from '../apis/hourglass.eigenlayer.io/performer.js';
import { isNamespaceTerminating } from '../runtime/client/errors.js';
import { Nodes, Pods, Services } from '../runtime/client/kinds.js';
import { objectKey } from '../runtime/client/types.js';
import { beyondStatus, type Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Manager } from '../runtime/manager.js';
import { requeueAfter } from '../runtime/reconcile.js';
import { APP_NAME, LABEL_APP, LABEL_PERFORMER } from './desired-state.js';
import { performerEvents } from './events.js';
import { OwnWrites } from './own-writes.js';
import { type ReconcileOptions, type ReconcileResult, reconcilePerformer } from './reconcile.js';

export const PERFORMER_CONTROLLER = 'performer';
const PERFORMER_INDEX = 'performer';
/**
 * Performers reconciled at once. A reconcile is up to three sequential API round trips and little
 * CPU, so these, not the CPU, bound throughput when many Performers arrive together: in
 * bench/hourglass 64 workers still left Performers queued ~7 s on average, and 256 only moved the
 * wait to the API server.
 */
export const DEFAULT_PERFORMER_WORKERS = 64;

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
  const { workers = DEFAULT_PERFORMER_WORKERS, namespace, ...reconcileOptions } = options;
  const scope = namespace ? { namespace } : {};
  // Only the Pods and Services the operator makes: caching every Pod in the cluster would cost
  // memory in proportion to the cluster rather than to its Performers.
  const owned = { ...scope, labelSelector: `${LABEL_APP}=${APP_NAME}` };
  const performers = mgr.informer<Performer>(Performers, scope);
  const nodes = mgr.informer<Node>(Nodes);
  // Reconciles read the Performer's Pods and Service from these caches rather than the API
  // server: a list and a get fewer per reconcile.
  const pods = mgr.informer<Pod>(Pods, { ...owned, transform: cachedPod });
  pods.addIndex(PERFORMER_INDEX, (p) => {
    const performer = p.metadata?.labels?.[LABEL_PERFORMER];
    return performer ? [`${p.metadata?.namespace}/${performer}`] : [];
  });
  const services = mgr.informer<Service>(Services, { ...owned, transform: cachedService });
  // The caches as this operator last wrote them: a reconcile brought by its own write then sees
  // that write and does not repeat it (see OwnWrites).
  const performerWrites = new OwnWrites(performers);
  const podWrites = new OwnWrites(pods);
  const serviceWrites = new OwnWrites(services);
  const cache: ReconcileOptions['cache'] = {
    pods: (p) => {
      const key = objectKey(p);
      return podWrites.overlay(
        pods.byIndex(PERFORMER_INDEX, key),
        (pod) => `${pod.metadata?.namespace}/${pod.metadata?.labels?.[LABEL_PERFORMER]}` === key,
      );
    },
    service: (namespace, name) => serviceWrites.get(`${namespace}/${name}`),
  };
  const wrote: ReconcileOptions['wrote'] = (obj, created) => {
    if (obj.kind === Performers.kind) performerWrites.wrote(obj as Performer, created);
    else if (obj.kind === Pods.kind) podWrites.wrote(obj as Pod, created);
    else if (obj.kind === Services.kind) serviceWrites.wrote(obj as Service, created);
  };
  const recorder = new EventRecorder(
    mgr.client,
    'hourglass.eigenlayer.io/performer-controller',
    process.env['POD_NAME'] ?? hostname(),
    mgr.log,
  );
  return (
    mgr
      .controller(PERFORMER_CONTROLLER, { workers })
      // Its own status writes need no reconcile; a status-only change by anyone else is
      // corrected on the Performer's next event.
      .for(Performers, { ...scope, updates: beyondStatus })
      .owns(Pods, owned)
      .owns(Services, owned)
      // Only Performers no node could host care about Node changes: a new or relabelled node may
      // host them now. Everything else is re-checked on its own Pod's events.
      .watches(Nodes, () =>
        performers
          .list()
          .filter(isHardwareUnavailable)
          .map((p) => objectKey(p)),
      )
      .reconcile(async (req, ctx) => {
        const performer = performerWrites.get(req.key);
        if (!performer) return; // gone: its finalizer already let it go
        let result: ReconcileResult;
        try {
          result = await reconcilePerformer(ctx.client, performer, {
            ...reconcileOptions,
            nodes: nodes.list(),
            cache,
            wrote,
          });
        } catch (err) {
          // A child deleted with its namespace is not made again: the namespace's deletion takes
          // the Performer too, and that event brings the reconcile that finalizes it. Retrying
          // would only fail again, once per Performer, until then.
          if (isNamespaceTerminating(err)) return;
          throw err;
        }
        // Not waited for: an Event is a record, not a step, and never holds up the next reconcile.
        // The recorder logs the ones that fail.
        for (const e of performerEvents(performer.status, result.status)) {
          void recorder.record(performer, e.type, e.reason, e.action, e.note);
        }
        // Not thrown: the deletion went on without its Terminating status, and a retry would only
        // write it again. Logged and recorded, as a role that forbids it is a fault to be fixed.
        if (result.statusFailure) {
          const err = result.statusFailure.message;
          ctx.log.error({ err }, 'could not write the Terminating status; the deletion goes on');
          void recorder.record(performer, 'Warning', 'StatusUpdateFailed', 'Finalize', err);
        }
        // Reported in status; thrown so that the queue retries it with backoff and it is logged.
        if (result.failedCreate) throw result.failedCreate;
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

/**
 * A Pod as the reconcile reads it: metadata, phase, conditions and why containers wait. The spec
 * and the rest of the status, most of a Pod, are never read from the cache, so not kept there.
 */
export function cachedPod(pod: Pod): Pod {
  const { managedFields: _, ...metadata } = pod.metadata ?? {};
  const s = pod.status;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata,
    ...(s
      ? {
          status: {
            phase: s.phase,
            reason: s.reason,
            message: s.message,
            conditions: s.conditions,
            containerStatuses: s.containerStatuses?.map((c) => ({
              name: c.name,
              ready: c.ready,
              restartCount: c.restartCount,
              image: c.image,
              imageID: c.imageID,
              state: c.state?.waiting ? { waiting: c.state.waiting } : {},
            })),
          },
        }
      : {}),
  };
}

/** A Service as the reconcile reads it: metadata, selector and ports. */
export function cachedService(service: Service): Service {
  const { managedFields: _, ...metadata } = service.metadata ?? {};
  return {
    apiVersion: service.apiVersion,
    kind: service.kind,
    metadata,
    spec: { selector: service.spec?.selector, ports: service.spec?.ports },
  };
}
