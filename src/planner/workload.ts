import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { TargetKind } from '../apis/ido.intel.com/intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { ConflictError } from '../runtime/client/errors.js';
import { Deployments, Pods, ReplicaSets } from '../runtime/client/kinds.js';
import type { Kind } from '../runtime/client/types.js';
import { healthy } from './actuators/rm-pod.js';
import { podState } from './observer.js';
import type { PodState } from './state.js';

export interface WorkloadRef {
  kind: TargetKind;
  namespace: string;
  name: string;
  /**
   * The workload's metadata.generation when it was observed. With it, a change is made only
   * while the spec is still the one observed (or one this updater made from it).
   */
  generation?: number;
}

/** The workload's spec changed since it was observed: someone else scaled or edited it. */
export class WorkloadChangedError extends Error {
  override name = 'WorkloadChangedError';
}

/** A patch whose resourceVersion lost a race with a status update is sent again this often. */
const CONFLICT_RETRIES = 5;

const KINDS: Record<TargetKind, Kind<Deployment | ReplicaSet>> = {
  Deployment: Deployments,
  ReplicaSet: ReplicaSets,
};

/** Millicores as a Kubernetes quantity. */
export function millicores(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/**
 * Per workload, the generations this process's own patches moved it between (latest last), and
 * the uid of the object they were made to. Shared by every updater, so that a plugin performing
 * after the built-in actuators of the same plan is sent the generation they left behind
 * (`plannedGeneration`), not taken to be someone else.
 */
const own = new Map<string, { uid: string | undefined; hops: { from: number; to: number }[] }>();

const workloadKey = (ref: WorkloadRef) => `${ref.kind}/${ref.namespace}/${ref.name}`;

/** The observed generation, carried forward over the patches made from it in this process. */
function expectedGeneration(key: string, observed: number): number {
  let g = observed;
  for (const hop of own.get(key)?.hops ?? []) if (hop.from === g) g = hop.to;
  return g;
}

/**
 * The generation a change to `ref` may still be made on: the observed one, or the one this
 * process's own changes made from it; undefined when `ref` carries none.
 */
export function plannedGeneration(ref: WorkloadRef): number | undefined {
  return ref.generation === undefined ? undefined : expectedGeneration(workloadKey(ref), ref.generation);
}

/**
 * The one path by which every actuator changes a workload: strategic merge patches through the
 * KubeClient (the `patch` and `delete` verbs the planner's ClusterRole grants), touching only the
 * fields the action is about.
 */
export class WorkloadUpdater {
  constructor(private readonly client: KubeClient) {}

  async setReplicas(ref: WorkloadRef, replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0)
      throw new Error(`replicas must be a whole number ≥ 0, got ${replicas}`);
    await this.patch(ref, { spec: { replicas } });
  }

  /** Sets one container's CPU request and limit (millicores) in the pod template. */
  async setContainerCpu(ref: WorkloadRef, container: string, request: number, limit: number): Promise<void> {
    if (!(request > 0) || limit < request)
      throw new Error(`CPU ${request}m/${limit}m: need 0 < request ≤ limit`);
    const patch = {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: container,
                resources: { requests: { cpu: millicores(request) }, limits: { cpu: millicores(limit) } },
              },
            ],
          },
        },
      },
    };
    await this.patch(ref, patch);
  }

  /**
   * A strategic merge patch. With `ref.generation`, it is made only on the spec observed: the
   * generation is checked on a fresh read and the patch carries that read's resourceVersion, so
   * nothing can change in between (a status update in between costs a retry, not a refusal).
   */
  private async patch(ref: WorkloadRef, patch: { spec: object }): Promise<void> {
    const kind = KINDS[ref.kind];
    if (ref.generation === undefined) {
      await this.client.patch(kind, ref.name, ref.namespace, patch, 'strategic');
      return;
    }
    const key = workloadKey(ref);
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.get(kind, ref.name, ref.namespace);
      const uid = current.metadata?.uid;
      // A workload deleted and made again under its name counts its generations from 1 anew.
      if (own.get(key)?.uid !== uid) own.delete(key);
      const expected = expectedGeneration(key, ref.generation);
      const now = current.metadata?.generation ?? 0;
      if (now !== expected)
        throw new WorkloadChangedError(
          `${ref.kind} ${ref.namespace}/${ref.name} changed since it was observed (generation ${expected}, now ${now}: its spec was edited or scaled by someone else)`,
        );
      try {
        const done = await this.client.patch(
          kind,
          ref.name,
          ref.namespace,
          { metadata: { resourceVersion: current.metadata?.resourceVersion }, ...patch },
          'strategic',
        );
        const to = done.metadata?.generation ?? now;
        if (to !== now)
          own.set(key, { uid, hops: [...(own.get(key)?.hops ?? []), { from: now, to }].slice(-4) });
        return;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }

  /**
   * Deletes a pod the plan chose, which its controller replaces; false when it was already gone.
   * Only as it is now: one that was unhealthy when observed and has recovered since is left
   * (WorkloadChangedError), and the delete carries the uid and resourceVersion just read, so a pod
   * replaced or changed in between is not deleted in its stead. Listed, not got: the seed's
   * ClusterRole grants list, watch and delete on pods.
   */
  async removePod(namespace: string, pod: string, observed?: PodState): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const [current] = (await this.client.list(Pods, { namespace, fieldSelector: `metadata.name=${pod}` }))
        .items;
      if (!current || current.metadata?.deletionTimestamp) return false;
      if (observed && !healthy(observed) && healthy(podState(current))) {
        throw new WorkloadChangedError(
          `pod ${namespace}/${pod} recovered since it was observed (ready, not failed, no restarts): not removed`,
        );
      }
      const { uid, resourceVersion } = current.metadata ?? {};
      try {
        return await this.client.delete(Pods, pod, namespace, { preconditions: { uid, resourceVersion } });
      } catch (err) {
        // The pod changed (a status update) between the read and the delete: judge it again.
        if (!(err instanceof ConflictError) || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }
}
