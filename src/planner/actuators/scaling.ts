import type { Action, Actuator, Candidate, CandidateSink } from '../actuator.js';
import type { ScaleOutConfig } from '../config.js';
import { LatencyPredictor } from '../models/latency-predictor.js';
import { proposedCandidates } from '../proposals.js';
import type { Goal, PlanState } from '../state.js';
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

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    return proposedCandidates(this, state, goal, limit);
  }

  abstract proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void;

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    // Only the last scaling action acts, so scale_out and scale_in together patch once.
    const last = [...plan].reverse().find((a) => a.name === 'scale_out' || a.name === 'scale_in');
    if (last?.name !== this.name) return;
    const replicas = plannedReplicas(plan)!;
    if (replicas !== state.replicas) await this.updater.setReplicas(state.target, replicas);
  }

  abstract effect(state: PlanState, goal: Goal): Promise<void>;

  /** Proposes `replicas` replicas, whose latencies `predict` has written into the sink. */
  protected propose(state: PlanState, replicas: number, utility: number, sink: CandidateSink): void {
    if (sink.replicas(replicas, utility))
      sink.take({ name: this.name, properties: { factor: replicas - state.replicas, replicas } });
  }

  /** Writes the latencies predicted at `replicas` into the sink. */
  protected predict(state: PlanState, goal: Goal, replicas: number, sink: CandidateSink): void {
    this.predictor.predictInto(state, goal, replicas, this.predictor.podCpu(state, goal), sink.objectives);
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

  proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void {
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    for (let k = 1; k <= steps && state.replicas + k <= this.config.max_pods; k++) {
      const replicas = state.replicas + k;
      this.predict(state, goal, replicas, sink);
      this.propose(state, replicas, 0.1 + 0.9 * (replicas / this.config.max_pods), sink);
    }
  }
}

/**
 * Removes replicas down to min_pods, only into states predicted to keep every latency objective
 * under SCALE_IN_HEADROOM of its bound (never for a goal without one); one replica at a time
 * while data is scarce.
 */
export class ScaleInActuator extends ReplicaActuator {
  readonly name = 'scale_in';

  async effect(): Promise<void> {
    // scale_out refits the model both share.
  }

  proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void {
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    for (let k = 1; k <= steps && state.replicas - k >= Math.max(1, this.config.min_pods); k++) {
      this.predict(state, goal, state.replicas - k, sink);
      if (!keepsHeadroom(goal, sink)) break;
      this.propose(state, state.replicas - k, 0.05 * k, sink);
    }
  }
}

/**
 * Whether less capacity (fewer replicas, less CPU) is predicted to be safe: there is a latency
 * objective, and each stays under SCALE_IN_HEADROOM of its value. Latency is the only KPI the
 * models predict from capacity; without one nothing tells what less would cost (throughput and
 * availability are predicted to stay), and the workload would be shrunk to its minimum.
 */
export function keepsHeadroom(goal: Goal, sink: CandidateSink): boolean {
  let judged = false;
  for (const name in goal) {
    const g = goal[name]!;
    if (g.type !== 'latency') continue;
    const i = sink.objectiveIndex(name);
    if (i < 0) continue;
    if (sink.objectives[i]! > g.value * SCALE_IN_HEADROOM) return false;
    judged = true;
  }
  return judged;
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
