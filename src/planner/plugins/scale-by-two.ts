import type { Action, Actuator, Candidate } from '../actuator.js';
import { cloneState, type Goal, type PlanState } from '../state.js';
import type { WorkloadUpdater } from '../workload.js';

export const SCALE_OUT_BY_TWO = 'scale_out_by_two';

/**
 * The sample plugin's actuator: doubles the replicas in one step, up to `maxPods`. It predicts
 * with the proportional prior (latency falls with capacity, throughput and availability stay) and
 * keeps no model, so effect only counts. Perform patches spec.replicas through the same update
 * path as the built-in actuators, on the spec observed: given `state.target.generation`, the
 * updater refuses a workload changed since (WorkloadChangedError, which the plugin answers
 * ABORTED); without one (a planner that sends none) it scales unconditionally.
 */
export class ScaleOutByTwoActuator implements Actuator {
  readonly name = SCALE_OUT_BY_TWO;
  readonly group = 'scaling';
  /** Calls received, for the plugin's own log and for tests. */
  readonly calls = { nextState: 0, perform: 0, effect: 0 };

  constructor(
    private readonly maxPods: number,
    /** Without one, perform fails loudly: the plugin was started without cluster access. */
    private readonly updater: WorkloadUpdater | undefined,
  ) {}

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    this.calls.nextState++;
    const replicas = state.replicas * 2;
    if (limit < 1 || state.replicas < 1 || replicas > this.maxPods) return [];
    const next = cloneState(state);
    next.replicas = replicas;
    for (const name in goal)
      if (goal[name]!.type === 'latency' && next.objectives[name] !== undefined)
        next.objectives[name] = (next.objectives[name]! * state.replicas) / replicas;
    // A big step: dearer than one replica of scale_out, cheaper than several.
    return [{ state: next, utility: 0.5, action: { name: this.name, properties: { replicas } } }];
  }

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    this.calls.perform++;
    const mine = plan.filter((a) => a.name === this.name);
    if (mine.length === 0) return;
    const replicas = mine[mine.length - 1]!.properties['replicas'];
    if (typeof replicas !== 'number')
      throw new Error(`${this.name}: action has no numeric "replicas" property`);
    if (!this.updater)
      throw new Error(
        `${this.name}: cannot scale ${state.target.namespace}/${state.target.name}: no cluster access (start the plugin with a kubeconfig)`,
      );
    if (replicas !== state.replicas) await this.updater.setReplicas(state.target, replicas);
  }

  async effect(): Promise<void> {
    this.calls.effect++;
  }
}
