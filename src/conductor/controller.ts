import { hostname } from 'node:os';
import { type NetworkIntent, NetworkIntents } from '../apis/intent.nephoran.com/network-intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { Deployments } from '../runtime/client/kinds.js';
import { objectKey } from '../runtime/client/types.js';
import { EventRecorder } from '../runtime/events.js';
import type { Manager } from '../runtime/manager.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../runtime/objects.js';
import { requeueAfter } from '../runtime/reconcile.js';
import { a1PolicyId } from './a1.js';
import type { A1PolicySync } from './a1-sync.js';
import { reconcileNetworkIntent, specProblems } from './reconcile.js';

export const NETWORK_INTENT_CONTROLLER = 'networkintent';
/** Holds a NetworkIntent until its A1 policy has been deleted (or given up on). */
export const A1_POLICY_FINALIZER = 'intent.nephoran.com/a1-policy';
/** NetworkIntents by the Deployment they target: `<spec.namespace>/<spec.target>`. */
export const TARGET_INDEX = 'spec.namespace/spec.target';
const REPORTING_CONTROLLER = 'intent.nephoran.com/networkintent-controller';

export interface NetworkIntentControllerOptions {
  /** Unset: no A1 policies, and no finalizer. */
  a1?: A1PolicySync;
  /** Reconcile NetworkIntents in this namespace only; all namespaces when unset. */
  namespace?: string;
}

export function targetKey(ni: NetworkIntent): string[] {
  const { namespace, target } = ni.spec ?? {};
  return namespace && target ? [`${namespace}/${target}`] : [];
}

/**
 * Runs `reconcileNetworkIntent` as a controller: NetworkIntent events and events of the
 * Deployments they target (found through an index, so a missing target recovers the moment it
 * appears and status follows the rollout) reconcile the intent; with A1, its policy is PUT
 * whenever it changes and deleted behind a finalizer.
 */
export function setupNetworkIntentController(mgr: Manager, opts: NetworkIntentControllerOptions = {}): void {
  const controller = mgr
    .controller(NETWORK_INTENT_CONTROLLER, { workers: 2 })
    .for(NetworkIntents, { namespace: opts.namespace });
  const intents = controller.cache<NetworkIntent>();
  intents.addIndex(TARGET_INDEX, targetKey);
  controller.watches(Deployments, (d) => intents.byIndex(TARGET_INDEX, objectKey(d)).map(objectKey));
  const events = new EventRecorder(mgr.client, REPORTING_CONTROLLER, hostname(), mgr.log);
  const a1 = opts.a1;

  controller.reconcile(async (req, ctx) => {
    const ni = intents.get(req.key);
    if (!ni) return;
    if (ni.metadata?.deletionTimestamp) {
      if (!hasFinalizer(ni, A1_POLICY_FINALIZER)) return;
      // The cache may still show the finalizer this controller has just removed (an event queued
      // meanwhile): read the object itself, so the policy is deleted once, not once per event.
      const current = await ctx.client.find(NetworkIntents, req.name, req.namespace);
      if (current && hasFinalizer(current, A1_POLICY_FINALIZER))
        await releasePolicy(ctx.client, current, ctx.signal);
      return;
    }
    if (a1) await addFinalizer(ctx.client, NetworkIntents, ni, A1_POLICY_FINALIZER);
    const result = await reconcileNetworkIntent(ctx.client, req.namespace!, req.name);
    // Workload first: an A1 outage must not hold back scaling. An invalid spec gets no policy.
    if (a1 && specProblems(ni).length === 0) {
      try {
        if (await a1.sync(ni)) {
          await events.record(ni, 'Normal', 'PolicySynced', 'PutPolicy', `A1 policy ${a1PolicyId(ni)} put`);
        }
      } catch (err) {
        await events.record(ni, 'Warning', 'PolicySyncFailed', 'PutPolicy', (err as Error).message);
        throw err; // retried with the queue's backoff
      }
    }
    return 'requeueAfterMs' in result ? requeueAfter(result.requeueAfterMs) : undefined;
  });

  async function releasePolicy(client: KubeClient, ni: NetworkIntent, signal: AbortSignal): Promise<void> {
    const id = a1PolicyId(ni);
    const failure = a1
      ? await a1.delete(ni, signal)
      : new Error('no A1 endpoint is configured (--a1-endpoint)');
    if (failure) {
      // The intent must not stay stuck in deletion because the mediator is gone: say so and let go.
      const tries = a1 ? ` after ${a1.deleteTries} tries` : '';
      await events.record(
        ni,
        'Warning',
        'PolicyDeleteFailed',
        'DeletePolicy',
        `A1 policy ${id} not deleted${tries}: ${failure.message}; finalizer removed anyway`,
      );
    }
    await removeFinalizer(client, NetworkIntents, ni, A1_POLICY_FINALIZER);
  }
}
