import type { Action, Actuator, Candidate } from '../actuator.js';
import type { ScaleOutConfig } from '../config.js';
import { LatencyPredictor } from '../models/latency-predictor.js';
import { deriveState, type Goal, type PlanState } from '../state.js';
import type { TraceStore } from '../trace/store.js';
import type { WorkloadUpdater } from '../workload.js';

/** Scaling in must leave this much headroom below each latency bound, so it does not flap back. */
export const SCALE_IN_HEADROOM = 0.8;

/** The replicas a plan ends with: the last scaling action's target wins. */
export function plannedReplicas(plan: readonly Action[]): number | undefined {
  let replicas: number | undefined;
  for (const a of plan)
    if ((a.name === 'scale_out' || a.name === 'scale_in') && typeof a.properties['replicas'] === 'number')
      replicas = a.properties['replicas'];
  return replicas;
}

/** Shared by scale_out and scale_in: both change spec.replicas and predict with the same model. */
abstract class ReplicaActuator implements Actuator {
  abstract readonly name: string;
  readonly group = 'scaling';
  constructor(
    protected readonly config: ScaleOutConfig,
    protected readonly updater: WorkloadUpdater,
    protected readonly predictor: LatencyPredictor,
  ) {}

  abstract nextState(state: PlanState, goal: Goal, limit: number): Candidate[];

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    // Only the last scaling action acts, so scale_out and scale_in together patch once.
    const last = [...plan].reverse().find((a) => a.name === 'scale_out' || a.name === 'scale_in');
    if (last?.name !== this.name) return;
    const replicas = plannedReplicas(plan)!;
    if (replicas !== state.replicas) await this.updater.setReplicas(state.target, replicas);
  }

  abstract effect(state: PlanState, goal: Goal): Promise<void>;

  protected candidate(state: PlanState, goal: Goal, replicas: number, utility: number): Candidate {
    const next = deriveState(state, replicas, state.cpu, state.pods);
    this.predictor.predict(state, goal, next);
    const factor = replicas - state.replicas;
    return { state: next, utility, action: { name: this.name, properties: { factor, replicas } } };
  }
}

/**
 * Adds replicas up to max_pods. With a fitted model it offers up to max_candidates steps of
 * growing size; with scarce data, one replica at a time.
 */
export class ScaleOutActuator extends ReplicaActuator {
  readonly name = 'scale_out';

  async effect(state: PlanState, goal: Goal): Promise<void> {
    await this.predictor.refit(state, goal);
  }

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    const out: Candidate[] = [];
    for (let k = 1; k <= steps && state.replicas + k <= this.config.max_pods; k++) {
      const replicas = state.replicas + k;
      out.push(this.candidate(state, goal, replicas, 0.1 + 0.9 * (replicas / this.config.max_pods)));
    }
    return out;
  }
}

/**
 * Removes replicas down to min_pods, only into states predicted to keep every latency objective
 * under SCALE_IN_HEADROOM of its bound; one replica at a time while data is scarce.
 */
export class ScaleInActuator extends ReplicaActuator {
  readonly name = 'scale_in';

  async effect(): Promise<void> {
    // scale_out refits the model both share.
  }

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    const out: Candidate[] = [];
    for (let k = 1; k <= steps && state.replicas - k >= Math.max(1, this.config.min_pods); k++) {
      const c = this.candidate(state, goal, state.replicas - k, 0.05 * k);
      if (!keepsHeadroom(c.state, goal)) break;
      out.push(c);
    }
    return out;
  }
}

function keepsHeadroom(state: PlanState, goal: Goal): boolean {
  for (const name in goal) {
    const g = goal[name]!;
    const v = state.objectives[name];
    if (g.type === 'latency' && v !== undefined && v > g.value * SCALE_IN_HEADROOM) return false;
  }
  return true;
}

/** scale_out and scale_in, sharing one latency model fitted on the traces. */
export function scalingActuators(
  config: ScaleOutConfig,
  updater: WorkloadUpdater,
  traces: TraceStore,
): [ScaleOutActuator, ScaleInActuator] {
  const predictor = new LatencyPredictor('scaling', traces, config.look_back);
  return [new ScaleOutActuator(config, updater, predictor), new ScaleInActuator(config, updater, predictor)];
}
