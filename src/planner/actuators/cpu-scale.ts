import type { Action, Actuator, Candidate } from '../actuator.js';
import type { CpuScaleConfig } from '../config.js';
import { LatencyPredictor } from '../models/latency-predictor.js';
import { type ContainerCpu, deriveState, type Goal, type PlanState } from '../state.js';
import type { TraceStore } from '../trace/store.js';
import type { WorkloadUpdater } from '../workload.js';
import { SCALE_IN_HEADROOM } from './scaling.js';

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
    const container = this.container(state);
    if (!container) return [];
    const current = state.cpu[container]!.request;
    const steps = this.predictor.modelled(state, goal) ? limit : 1;
    const r = this.config.cpu_rounding;
    const out: Candidate[] = [];
    // Steps land on multiples of cpu_rounding: the first above (below) the current request, then on.
    const above = Math.floor(current / r) * r + r;
    const below = Math.ceil(current / r) * r - r;
    for (let k = 1; k <= steps; k++) {
      const up = this.round(above + (k - 1) * r);
      if (up <= current) break;
      if (out.length >= limit) break;
      out.push(this.candidate(state, goal, container, up, 0.1 + 0.9 * (up / this.config.cpu_max)));
      if (up >= this.config.cpu_max) break;
    }
    for (let k = 1; k <= steps; k++) {
      const down = this.round(below - (k - 1) * r);
      if (down >= current) break;
      const c = this.candidate(state, goal, container, down, 0.05 * k);
      if (out.length >= limit || !keepsHeadroom(c.state, goal)) break;
      out.push(c);
      if (down <= r) break;
    }
    return out;
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

  private candidate(
    state: PlanState,
    goal: Goal,
    container: string,
    cpu: number,
    utility: number,
  ): Candidate {
    const resized: Record<string, ContainerCpu> = {};
    for (const name in state.cpu)
      resized[name] =
        name === container
          ? { request: cpu, limit: Math.round(cpu * this.config.boost_factor) }
          : state.cpu[name]!;
    const next = deriveState(state, state.replicas, resized, state.pods);
    this.predictor.predict(state, goal, next);
    return { state: next, utility, action: { name: this.name, properties: { container, cpu } } };
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
