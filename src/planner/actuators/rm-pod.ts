import type { Action, Actuator, Candidate, CandidateSink } from '../actuator.js';
import type { RmPodConfig } from '../config.js';
import { proposedCandidates, replacedPods } from '../proposals.js';
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
 * availability; never while the workload has min_pods replicas or fewer, and never a pod still
 * starting (its replacement would only start over, and a rollout would never finish).
 */
export class RmPodActuator implements Actuator {
  readonly name = 'rm_pod';
  readonly group = 'pods';

  constructor(
    private readonly config: RmPodConfig,
    private readonly updater: WorkloadUpdater,
  ) {}

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    return proposedCandidates(this, state, goal, limit);
  }

  proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void {
    if (state.replicas <= this.config.min_pods) return;
    const indices: number[] = [];
    let missing = false;
    for (const name in goal) {
      if (goal[name]!.type !== 'availability') continue;
      const i = sink.objectiveIndex(name);
      if (i < 0) missing = true;
      indices.push(i);
    }
    let total = 0;
    let ok = 0;
    for (const name in state.pods) {
      total++;
      if (healthy(state.pods[name]!)) ok++;
    }
    let proposed = 0;
    for (const name in state.pods) {
      if (proposed >= limit) break;
      const pod = state.pods[name]!;
      if (healthy(pod) || pod.starting) continue;
      proposed++;
      // The replacement is predicted to come up healthy under a new name, in the removed pod's place.
      const replacementName = `${name}~replacement`;
      const replacement: PodState = { ready: true, restarts: 0, failed: false };
      if (missing) {
        // The state lacks an availability objective the goal has: the candidate gains it, which a
        // change to the state's own objectives cannot say.
        const next = deriveState(
          state,
          state.replicas,
          state.cpu,
          replacedPods(state.pods, name, replacementName, replacement),
        );
        for (const o in goal)
          if (goal[o]!.type === 'availability') next.objectives[o] = availability(next.pods);
        sink.candidate({ state: next, utility: 0.2, action: { name: this.name, properties: { name } } });
        continue;
      }
      // One unhealthy pod replaced by a healthy one, as `availability` would count the new pods.
      const value = (ok + 1) / total;
      for (const i of indices) sink.objectives[i] = value;
      if (sink.replacePod(name, replacementName, replacement, 0.2))
        sink.take({ name: this.name, properties: { name } });
    }
  }

  async perform(state: PlanState, plan: readonly Action[], done?: (action: Action) => void): Promise<void> {
    for (const a of plan) {
      const pod = a.properties['name'];
      if (a.name !== this.name || typeof pod !== 'string' || !(pod in state.pods)) continue;
      await this.updater.removePod(state.target.namespace, pod, state.pods[pod]);
      done?.(a);
    }
  }

  async effect(): Promise<void> {
    // Availability after a removal follows from the pods themselves: there is nothing to learn.
  }
}
