import type { Action, Actuator, Candidate } from '../actuator.js';
import type { RmPodConfig } from '../config.js';
import { deriveState, type Goal, type PlanState, type PodState } from '../state.js';
import type { WorkloadUpdater } from '../workload.js';

/** A pod counts towards availability while it is ready, has not failed and never restarted. */
export function healthy(pod: PodState): boolean {
  return pod.ready && !pod.failed && pod.restarts === 0;
}

/** Availability of a workload: the fraction of its pods that are healthy (0 with no pods). */
export function availability(pods: Record<string, PodState>): number {
  let total = 0;
  let ok = 0;
  for (const name in pods) {
    total++;
    if (healthy(pods[name]!)) ok++;
  }
  return total === 0 ? 0 : ok / total;
}

/**
 * Removes an unhealthy pod so that its controller replaces it with a fresh one, which raises
 * availability; never while the workload has min_pods replicas or fewer.
 */
export class RmPodActuator implements Actuator {
  readonly name = 'rm_pod';
  readonly group = 'pods';

  constructor(
    private readonly config: RmPodConfig,
    private readonly updater: WorkloadUpdater,
  ) {}

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    if (state.replicas <= this.config.min_pods) return [];
    const availabilityObjectives = Object.keys(goal).filter((n) => goal[n]!.type === 'availability');
    const out: Candidate[] = [];
    for (const name in state.pods) {
      if (out.length >= limit) break;
      if (healthy(state.pods[name]!)) continue;
      // The replacement is predicted to come up healthy under a new name, in the removed pod's
      // place (rebuilt rather than deleted from, which would slow every later read of the object).
      const pods: Record<string, PodState> = {};
      for (const other in state.pods)
        if (other === name) pods[`${name}~replacement`] = { ready: true, restarts: 0, failed: false };
        else pods[other] = state.pods[other]!;
      const next = deriveState(state, state.replicas, state.cpu, pods);
      for (const o of availabilityObjectives) next.objectives[o] = availability(next.pods);
      out.push({ state: next, utility: 0.2, action: { name: this.name, properties: { name } } });
    }
    return out;
  }

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    for (const a of plan) {
      const pod = a.properties['name'];
      if (a.name === this.name && typeof pod === 'string' && pod in state.pods)
        await this.updater.removePod(state.target.namespace, pod);
    }
  }

  async effect(): Promise<void> {
    // Availability after a removal follows from the pods themselves: there is nothing to learn.
  }
}
