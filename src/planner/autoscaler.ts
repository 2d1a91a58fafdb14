import type { HorizontalPodAutoscaler } from 'kubernetes-types/autoscaling/v2.js';
import type { KubeClient } from '../runtime/client/client.js';
import { ForbiddenError, NotFoundError } from '../runtime/client/errors.js';
import { ReplicaSets } from '../runtime/client/kinds.js';
import { kind } from '../runtime/client/types.js';
import type { Logger } from '../runtime/log.js';
import type { Actuator, Candidate, CandidateSink } from './actuator.js';
import type { PlanState } from './state.js';
import type { WorkloadRef } from './workload.js';

export const HorizontalPodAutoscalers = kind<HorizontalPodAutoscaler>(
  'autoscaling/v2',
  'HorizontalPodAutoscaler',
);

/** The Planning condition's reason when an HPA's hold on the replicas is why nothing is planned. */
export const REASON_MANAGED_BY_HPA = 'ManagedByHPA';

/**
 * Finds the HorizontalPodAutoscaler that sets a workload's replicas. Listed each round rather
 * than watched: a planner whose ClusterRole predates the HPA rule is refused (403), and a watch
 * would retry that for ever; a refused list logs one warning and the planner plans as it did
 * before it knew of HPAs.
 */
export class AutoscalerFinder {
  private warned = false;

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
  ) {}

  /**
   * `<namespace>/<name>` of the HPA whose scaleTargetRef is `ref`, or for a ReplicaSet its
   * controlling Deployment, if any.
   */
  async managing(ref: WorkloadRef): Promise<string | undefined> {
    let hpas: HorizontalPodAutoscaler[];
    try {
      hpas = (await this.client.list(HorizontalPodAutoscalers, { namespace: ref.namespace })).items;
    } catch (err) {
      // 404: a cluster that does not serve autoscaling/v2 has no HPAs of that version to fight.
      if (!(err instanceof ForbiddenError || err instanceof NotFoundError)) throw err;
      if (!this.warned)
        this.log.warn(
          { err: (err as Error).message },
          'HorizontalPodAutoscalers cannot be listed: replicas are planned without regard to any HPA; grant list on horizontalpodautoscalers (autoscaling)',
        );
      this.warned = true;
      return undefined;
    }
    const targets = [{ kind: ref.kind as string, name: ref.name }];
    // A ReplicaSet's replicas are its Deployment's: an HPA on the Deployment sets them too.
    if (ref.kind === 'ReplicaSet') {
      // The planner's role may get ReplicaSets; one that may not still plans, as before.
      const rs = await this.client.find(ReplicaSets, ref.name, ref.namespace).catch((err: unknown) => {
        if (err instanceof ForbiddenError) return undefined;
        throw err;
      });
      const owner = rs?.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'Deployment');
      if (owner && owner.apiVersion.split('/')[0] === 'apps')
        targets.push({ kind: 'Deployment', name: owner.name });
    }
    const hpa = hpas
      .filter((h) => {
        const t = h.spec?.scaleTargetRef;
        return (
          t?.apiVersion?.split('/')[0] === 'apps' &&
          targets.some((w) => w.kind === t.kind && w.name === t.name)
        );
      })
      .map((h) => `${h.metadata?.namespace}/${h.metadata?.name}`)
      .sort()[0];
    return hpa;
  }
}

/** The candidate keeps the replicas and the pods: nothing an HPA manages is changed. */
function keepsReplicas(from: PlanState, to: PlanState): boolean {
  if (to.replicas !== from.replicas) return false;
  const before = Object.keys(from.pods);
  const after = Object.keys(to.pods);
  return after.length === before.length && after.every((p) => p in from.pods);
}

/**
 * The actuators as the search sees them while an HPA sets the workload's replicas: every
 * candidate that changes the replicas or replaces a pod (scale_out, scale_in, rm_pod, and any
 * plugin that does the same) is dropped, so the planner does not fight the HPA; CPU changes stay.
 * Only for planning: the plan is carried out by the actuators themselves.
 */
export function holdingReplicas(actuators: readonly Actuator[]): Actuator[] {
  return actuators.map((a) => {
    const held: Actuator = {
      name: a.name,
      group: a.group,
      nextState(state, goal, limit) {
        const keep = (cs: Candidate[]) => cs.filter((c) => keepsReplicas(state, c.state));
        const cs = a.nextState(state, goal, limit);
        return cs instanceof Promise ? cs.then(keep) : keep(cs);
      },
      perform: (state, plan, done) => a.perform(state, plan, done),
      effect: (state, goal) => a.effect(state, goal),
    };
    if (a.proposeStates)
      held.proposeStates = (state, goal, limit, sink) =>
        a.proposeStates!(state, goal, limit, hold(sink, state));
    return held;
  });
}

function hold(sink: CandidateSink, state: PlanState): CandidateSink {
  return {
    get objectives() {
      return sink.objectives;
    },
    get objectiveNames() {
      return sink.objectiveNames;
    },
    objectiveIndex: (name) => sink.objectiveIndex(name),
    replicas: () => false,
    cpu: (container, request, limit, utility) => sink.cpu(container, request, limit, utility),
    replacePod: () => false,
    take: (action) => sink.take(action),
    candidate: (c) => {
      if (keepsReplicas(state, c.state)) sink.candidate(c);
    },
  };
}
