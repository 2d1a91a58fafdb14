import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { TargetKind } from '../apis/ido.intel.com/intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { Deployments, Pods, ReplicaSets } from '../runtime/client/kinds.js';
import type { Kind } from '../runtime/client/types.js';

export interface WorkloadRef {
  kind: TargetKind;
  namespace: string;
  name: string;
}

const KINDS: Record<TargetKind, Kind<Deployment | ReplicaSet>> = {
  Deployment: Deployments,
  ReplicaSet: ReplicaSets,
};

/** Millicores as a Kubernetes quantity. */
export function millicores(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
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
    await this.client.patch(KINDS[ref.kind], ref.name, ref.namespace, { spec: { replicas } }, 'strategic');
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
    await this.client.patch(KINDS[ref.kind], ref.name, ref.namespace, patch, 'strategic');
  }

  /** Deletes a pod; its controller replaces it. False when it was already gone. */
  async removePod(namespace: string, pod: string): Promise<boolean> {
    return this.client.delete(Pods, pod, namespace);
  }
}
