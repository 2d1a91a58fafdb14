import {
  INTENT_SOURCES,
  type NetworkIntent,
  type NetworkIntentPhase,
  type NetworkIntentStatus,
  NetworkIntents,
} from '../apis/intent.nephoran.com/network-intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { Deployments } from '../runtime/client/kinds.js';
import { type ConditionInput, removeCondition, setCondition } from '../runtime/conditions.js';

/** Condition types the reconciler writes, in the metav1.Condition shape. */
export const CONDITION_VALIDATED = 'Validated';
export const CONDITION_READY = 'Ready';
/** Written by the controller only while another intent owns this intent's A1 policy id. */
export const CONDITION_A1_POLICY_SYNCED = 'A1PolicySynced';

/** Reason of `Ready=False` on a scaling intent that a newer one on the same Deployment supersedes. */
export const SUPERSEDED = 'Superseded';

/** How soon to look again while the target is missing or still rolling out. */
export const RECHECK_MS = 5_000;

export type ReconcileResult = { done: true } | { requeueAfterMs: number };

export interface ReconcileOptions {
  /** The `A1PolicySynced` condition to report; unset, any earlier one is removed. */
  a1Condition?: Omit<ConditionInput, 'type' | 'observedGeneration'>;
  /**
   * `<namespace>/<name>` of the scaling NetworkIntent that acts on this one's Deployment instead
   * (the newest): this one leaves the Deployment alone and says so.
   */
  supersededBy?: string;
}

/** Problems with a spec that the CRD admits but the reconciler cannot act on. */
export function specProblems(ni: NetworkIntent): string[] {
  const problems: string[] = [];
  const s = ni.spec;
  if (!s.target?.trim()) problems.push('spec.target is empty');
  if (!s.namespace?.trim()) problems.push('spec.namespace is empty');
  if (s.source !== undefined && !(INTENT_SOURCES as readonly string[]).includes(s.source)) {
    problems.push(`spec.source "${s.source}" must be one of ${INTENT_SOURCES.join(', ')}`);
  }
  const min = s.scalingParameters?.minReplicas;
  const max = s.scalingParameters?.maxReplicas;
  if (min !== undefined && max !== undefined && min > max) {
    problems.push(`spec.scalingParameters.minReplicas ${min} exceeds maxReplicas ${max}`);
  }
  return problems;
}

/** spec.replicas within spec.scalingParameters' bounds, when those are set. */
export function desiredReplicas(ni: NetworkIntent): number {
  const { minReplicas, maxReplicas } = ni.spec.scalingParameters ?? {};
  let n = ni.spec.replicas;
  if (minReplicas !== undefined) n = Math.max(n, minReplicas);
  if (maxReplicas !== undefined) n = Math.min(n, maxReplicas);
  return n;
}

/**
 * Reconciles one NetworkIntent: for `scaling`, scales the target Deployment in spec.namespace to
 * the (clamped) replica count and reports status from the Deployment until its ready replicas
 * match. A missing target is Failed and retried, an invalid spec is Failed with what is wrong.
 * A plain function of the key, to be run by a controller (with the A1 policy finalizer).
 */
export async function reconcileNetworkIntent(
  client: KubeClient,
  namespace: string,
  name: string,
  opts: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const ni = await client.find(NetworkIntents, name, namespace);
  if (!ni || ni.metadata?.deletionTimestamp) return { done: true };
  const generation = ni.metadata?.generation;
  // Every write carries the A1 condition (status is applied whole by one field manager).
  const a1 = opts.a1Condition;
  const write = (phase: NetworkIntentPhase, message: string, extra: Partial<NetworkIntentStatus> = {}) =>
    writeStatus(client, ni, {
      phase,
      message,
      observedGeneration: generation,
      ...extra,
      conditions: a1
        ? setCondition(extra.conditions, {
            type: CONDITION_A1_POLICY_SYNCED,
            ...a1,
            observedGeneration: generation,
          })
        : removeCondition(extra.conditions, CONDITION_A1_POLICY_SYNCED),
    });

  const problems = specProblems(ni);
  if (problems.length) {
    const invalid = {
      status: 'False',
      reason: 'InvalidSpec',
      message: problems.join('; '),
      observedGeneration: generation,
    } as const;
    // Ready too: one left True by an earlier, valid generation would tell `kubectl wait` otherwise.
    const conditions = setCondition(
      setCondition(ni.status?.conditions, { type: CONDITION_VALIDATED, ...invalid }),
      {
        type: CONDITION_READY,
        ...invalid,
      },
    );
    await write('Failed', `invalid spec: ${problems.join('; ')}`, { conditions });
    return { done: true };
  }
  let conditions = setCondition(ni.status?.conditions, {
    type: CONDITION_VALIDATED,
    status: 'True',
    reason: 'SpecValid',
    message: 'the spec is valid',
    observedGeneration: generation,
  });
  if (ni.spec.intentType !== 'scaling') {
    // Only scaling acts on a workload; the other types are recorded for the A1 policy and GitOps.
    // A Ready left by an earlier scaling generation spoke of a rollout this intent no longer asks for.
    conditions = removeCondition(conditions, CONDITION_READY);
    await write('Validated', `intentType ${ni.spec.intentType} needs no workload change`, { conditions });
    return { done: true };
  }

  const target = ni.spec.target;
  const targetNs = ni.spec.namespace;
  if (opts.supersededBy) {
    // Two intents scaling one Deployment would each patch it back to their own count on its every event.
    const message = `NetworkIntent ${opts.supersededBy} acts on Deployment ${targetNs}/${target} (the newest scaling intent for it); this one leaves it alone`;
    conditions = setCondition(conditions, {
      type: CONDITION_READY,
      status: 'False',
      reason: SUPERSEDED,
      message,
      observedGeneration: generation,
    });
    await write('Validated', message, { conditions });
    return { done: true };
  }
  const replicas = desiredReplicas(ni);
  const deployment = await client.find(Deployments, target, targetNs);
  if (!deployment) {
    const message = `target Deployment ${targetNs}/${target} not found`;
    conditions = setCondition(conditions, {
      type: CONDITION_READY,
      status: 'False',
      reason: 'TargetNotFound',
      message,
      observedGeneration: generation,
    });
    await write('Failed', message, { conditions });
    return { requeueAfterMs: RECHECK_MS };
  }
  if (deployment.spec?.replicas !== replicas) {
    await client.patch(Deployments, target, targetNs, { spec: { replicas } });
  }
  const current = await client.get(Deployments, target, targetNs);
  const ready = current.status?.readyReplicas ?? 0;
  const settled =
    ready === replicas &&
    (current.status?.updatedReplicas ?? 0) === replicas &&
    (current.status?.observedGeneration ?? 0) >= (current.metadata?.generation ?? 0);
  const clamped = replicas !== ni.spec.replicas ? ` (clamped from ${ni.spec.replicas})` : '';
  conditions = setCondition(conditions, {
    type: CONDITION_READY,
    status: settled ? 'True' : 'False',
    reason: settled ? 'Scaled' : 'Scaling',
    message: `${ready}/${replicas} replicas ready`,
    observedGeneration: generation,
  });
  await write(
    settled ? 'Deployed' : 'Deploying',
    settled
      ? `Deployment ${targetNs}/${target} runs ${replicas} ready replicas${clamped}`
      : `scaling Deployment ${targetNs}/${target} to ${replicas} replicas${clamped}: ${ready} ready`,
    { conditions, observedReplicas: replicas, readyReplicas: ready },
  );
  return settled ? { done: true } : { requeueAfterMs: Math.min(RECHECK_MS, 1_000) };
}

async function writeStatus(
  client: KubeClient,
  ni: NetworkIntent,
  status: NetworkIntentStatus,
): Promise<void> {
  await client.applyStatus(
    {
      apiVersion: ni.apiVersion,
      kind: ni.kind,
      metadata: { name: ni.metadata!.name, namespace: ni.metadata!.namespace },
      status: Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined)),
    },
    { fieldManager: 'networkintent-controller' },
  );
}
