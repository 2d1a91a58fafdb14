import { hostname } from 'node:os';
import { type NetworkIntent, NetworkIntents } from '../apis/intent.nephoran.com/network-intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { Deployments } from '../runtime/client/kinds.js';
import { objectKey } from '../runtime/client/types.js';
import { findCondition } from '../runtime/conditions.js';
import { beyondStatus } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Manager } from '../runtime/manager.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../runtime/objects.js';
import { requeueAfter } from '../runtime/reconcile.js';
import { a1PolicyId } from './a1.js';
import type { A1PolicySync } from './a1-sync.js';
import { CONDITION_A1_POLICY_SYNCED, reconcileNetworkIntent, specProblems } from './reconcile.js';

export const NETWORK_INTENT_CONTROLLER = 'networkintent';
/** Holds a NetworkIntent until its A1 policy has been deleted (or given up on). */
export const A1_POLICY_FINALIZER = 'intent.nephoran.com/a1-policy';
/** NetworkIntents by the Deployment they target: `<spec.namespace>/<spec.target>`. */
export const TARGET_INDEX = 'spec.namespace/spec.target';
/** NetworkIntents by the A1 policy id they would sync (`policy-<name>`, shared across namespaces). */
export const POLICY_ID_INDEX = 'a1.policyId';
/** Reason of `A1PolicySynced=False` and of the Warning Event when another intent owns the id. */
export const POLICY_ID_CONFLICT = 'PolicyIdConflict';
const REPORTING_CONTROLLER = 'intent.nephoran.com/networkintent-controller';

export interface NetworkIntentControllerOptions {
  /** Unset: no A1 policies, and no finalizer. */
  a1?: A1PolicySync;
  /** Reconcile NetworkIntents in this namespace only; all namespaces when unset. */
  namespace?: string;
  /** Reconcile only NetworkIntents matching this label selector; all when unset. */
  labelSelector?: string;
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
    .for(NetworkIntents, { namespace: opts.namespace, labelSelector: opts.labelSelector });
  const intents = controller.cache<NetworkIntent>();
  intents.addIndex(TARGET_INDEX, targetKey);
  intents.addIndex(POLICY_ID_INDEX, (ni) => (ni.metadata?.name ? [a1PolicyId(ni)] : []));
  controller.watches(Deployments, (d) => intents.byIndex(TARGET_INDEX, objectKey(d)).map(objectKey));

  /**
   * The scaling intent that acts on the Deployment `target` (`<namespace>/<name>`): the newest by
   * creationTimestamp, then the first by namespace and name (the timestamp has whole seconds), among
   * those with a valid spec and not being deleted. The others leave the Deployment alone, or every
   * event of it would have each patch it back to its own replica count.
   */
  function actingIntent(target: string): NetworkIntent | undefined {
    const contenders = intents
      .byIndex(TARGET_INDEX, target)
      .filter(
        (ni) =>
          ni.spec.intentType === 'scaling' &&
          !ni.metadata?.deletionTimestamp &&
          specProblems(ni).length === 0,
      );
    const age = (ni: NetworkIntent) => ni.metadata?.creationTimestamp ?? '';
    contenders.sort((a, b) => age(b).localeCompare(age(a)) || objectKey(a).localeCompare(objectKey(b)));
    return contenders[0];
  }

  /** The other intents on `ni`'s Deployment: which of them acts may change with `ni`. */
  function enqueueRivals(ni: NetworkIntent): void {
    const self = objectKey(ni);
    for (const target of targetKey(ni)) {
      for (const other of intents.byIndex(TARGET_INDEX, target)) {
        if (objectKey(other) !== self) controller.enqueue(objectKey(other));
      }
    }
  }
  intents.addHandler({
    add: enqueueRivals,
    update: (before, after) => {
      // Status writes change nothing of who acts.
      if (!beyondStatus(before, after) && targetKey(before)[0] === targetKey(after)[0]) return;
      enqueueRivals(before);
      enqueueRivals(after);
    },
    delete: enqueueRivals,
  });
  const events = new EventRecorder(mgr.client, REPORTING_CONTROLLER, hostname(), mgr.log);
  const a1 = opts.a1;
  /** The owner last seen per policy id, so that the other claimants hear when it changes. */
  const owners = new Map<string, string>();

  /**
   * The intent a policy id belongs to: the oldest (then first by namespace) that would sync a
   * policy, one being deleted included until its finalizer has deleted the policy. The policy id
   * carries only the name and this controller has one mediator, so intents of one name in
   * different namespaces would otherwise overwrite, and delete, each other's policy.
   */
  function policyOwner(id: string): NetworkIntent | undefined {
    const claimants = intents
      .byIndex(POLICY_ID_INDEX, id)
      .filter(
        (ni) =>
          specProblems(ni).length === 0 &&
          (!ni.metadata?.deletionTimestamp || hasFinalizer(ni, A1_POLICY_FINALIZER)),
      );
    const age = (ni: NetworkIntent) => ni.metadata?.creationTimestamp ?? '';
    claimants.sort(
      (a, b) =>
        age(a).localeCompare(age(b)) ||
        (a.metadata?.namespace ?? '').localeCompare(b.metadata?.namespace ?? ''),
    );
    return claimants[0];
  }

  /** Notes the id's owner; when it changed (one deleted, one older appeared), the others are reconciled. */
  function noteOwner(id: string, self: string): NetworkIntent | undefined {
    const owner = policyOwner(id);
    const key = owner ? objectKey(owner) : undefined;
    if (owners.get(id) === key) return owner;
    if (key) owners.set(id, key);
    else owners.delete(id);
    for (const other of intents.byIndex(POLICY_ID_INDEX, id)) {
      if (objectKey(other) !== self) controller.enqueue(objectKey(other));
    }
    return owner;
  }

  controller.reconcile(async (req, ctx) => {
    const ni = intents.get(req.key);
    const owner = a1 ? noteOwner(`policy-${req.name}`, req.key) : undefined;
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
    const valid = specProblems(ni).length === 0;
    const conflict = a1 && valid && owner && objectKey(owner) !== req.key ? owner : undefined;
    const conflictNote = conflict
      ? `A1 policy ${a1PolicyId(ni)} belongs to NetworkIntent ${objectKey(conflict)} (the oldest of that name); this intent's policy is not synced`
      : '';
    if (conflict) a1!.forget(ni);
    const [target] = targetKey(ni);
    const actor = target && ni.spec.intentType === 'scaling' ? actingIntent(target) : undefined;
    const result = await reconcileNetworkIntent(ctx.client, req.namespace!, req.name, {
      a1Condition: conflict
        ? { status: 'False', reason: POLICY_ID_CONFLICT, message: conflictNote }
        : undefined,
      supersededBy: actor && objectKey(actor) !== req.key ? objectKey(actor) : undefined,
    });
    if (conflict) {
      const before = findCondition(ni.status?.conditions, CONDITION_A1_POLICY_SYNCED);
      if (before?.reason !== POLICY_ID_CONFLICT || before.message !== conflictNote) {
        await events.record(ni, 'Warning', POLICY_ID_CONFLICT, 'PutPolicy', conflictNote);
      }
    } else if (a1 && valid) {
      // Workload first: an A1 outage must not hold back scaling. An invalid spec gets no policy.
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
    const owner = policyOwner(id);
    if (a1 && owner && objectKey(owner) !== objectKey(ni)) {
      // The policy is another intent's: leave it be.
      a1.forget(ni);
      await removeFinalizer(client, NetworkIntents, ni, A1_POLICY_FINALIZER);
      return;
    }
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
