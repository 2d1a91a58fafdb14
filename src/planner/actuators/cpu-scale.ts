import type { Action, Actuator, Candidate, CandidateSink } from '../actuator.js';
import type { CpuScaleConfig } from '../config.js';
import { LatencyPredictor } from '../models/latency-predictor.js';
import { proposedCandidates } from '../proposals.js';
import type { Goal, PlanState } from '../state.js';
import type { TraceStore } from '../trace/store.js';
import type { WorkloadUpdater } from '../workload.js';
import { keepsHeadroom } from './scaling.js';

/**
 * Vertical CPU scaling of one container (config `container`, else the pod template's last):
 * requests in multiples of cpu_rounding up to cpu_max, limits boosted by boost_factor. Steps up
 * when latency is above its bound, down (keeping headroom) when the goal already holds; one
 * cpu_rounding step at a time while data is scarce.
 */
export class CpuScaleActuator implements Actuator {
  readonly name = 'cpu_scale';
  readonly group = 'vertical_scaling';
  private readonly predictor: LatencyPredictor;

  constructor(
    private readonly config: CpuScaleConfig,
    private readonly updater: WorkloadUpdater,
    traces: TraceStore,
  ) {
    this.predictor = new LatencyPredictor(this.name, traces, config.look_back);
  }

  /** The container this actuator resizes in a state, if any. */
  container(state: PlanState): string | undefined {
    if (this.config.container) return this.config.container in state.cpu ? this.config.container : undefined;
    const names = Object.keys(state.cpu);
    return names[names.length - 1];
  }

  /** Rounds up to a multiple of cpu_rounding, within [cpu_rounding, cpu_max]. */
  round(millis: number): number {
    const r = this.config.cpu_rounding;
    return Math.min(this.config.cpu_max, Math.max(r, Math.ceil(millis / r) * r));
  }

  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] {
    return proposedCandidates(this, state, goal, limit);
  }

  proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void {
    const container = this.container(state);
    if (!container) return;
    const current = state.cpu[container]!.request;
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    const r = this.config.cpu_rounding;
    let proposed = 0;
    // Steps land on multiples of cpu_rounding: the first above (below) the current request, then on.
    const above = Math.floor(current / r) * r + r;
    const below = Math.ceil(current / r) * r - r;
    for (let k = 1; k <= steps; k++) {
      const up = this.round(above + (k - 1) * r);
      if (up <= current) break;
      if (proposed >= limit) break;
      this.predict(state, goal, container, up, sink);
      this.propose(container, up, 0.1 + 0.9 * (up / this.config.cpu_max), sink);
      proposed++;
      if (up >= this.config.cpu_max) break;
    }
    for (let k = 1; k <= steps; k++) {
      const down = this.round(below - (k - 1) * r);
      if (down >= current) break;
      this.predict(state, goal, container, down, sink);
      if (proposed >= limit || !keepsHeadroom(goal, sink)) break;
      this.propose(container, down, 0.05 * k, sink);
      proposed++;
      if (down <= r) break;
    }
  }

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    const last = [...plan].reverse().find((a) => a.name === this.name);
    if (!last) return;
    const container = String(last.properties['container']);
    const request = Number(last.properties['cpu']);
    const limit = Math.round(request * this.config.boost_factor);
    const now = state.cpu[container];
    if (now && now.request === request && now.limit === limit) return;
    await this.updater.setContainerCpu(state.target, container, request, limit);
  }

  async effect(state: PlanState, goal: Goal): Promise<void> {
    await this.predictor.refit(state, goal);
  }

  /** Writes the latencies predicted with `container` at `cpu` millicores into the sink. */
  private predict(state: PlanState, goal: Goal, container: string, cpu: number, sink: CandidateSink): void {
    // Summed in the containers' order, as for the state itself, so the figure is the same.
    let perPod = 0;
    for (const name in state.cpu) perPod += name === container ? cpu : state.cpu[name]!.request;
    this.predictor.predictInto(state, goal, state.replicas, perPod, sink.objectives);
  }

  private propose(container: string, cpu: number, utility: number, sink: CandidateSink): void {
    if (sink.cpu(container, cpu, Math.round(cpu * this.config.boost_factor), utility))
      sink.take({ name: this.name, properties: { container, cpu } });
  }
}
