import type { Goal, PlanState } from '../state.js';
import type { TraceStore } from '../trace/store.js';
import { LatencyModel, type LatencySample, proportionalLatency } from './latency-model.js';

/** CPU requested per pod: the sum over its containers (millicores). */
export function podCpu(state: PlanState): number {
  let cpu = 0;
  for (const c in state.cpu) cpu += state.cpu[c]!.request;
  return cpu;
}

/** The observed throughput, from the goal's throughput objective; undefined when none is observed. */
export function throughputOf(state: PlanState, goal: Goal): number | undefined {
  for (const name in goal) if (goal[name]!.type === 'throughput') return state.objectives[name];
  return undefined;
}

/**
 * The latency objectives of one intent as the workload is resized: a fitted LatencyModel per
 * objective once the traces hold enough samples, the proportional prior before. `effect` refits
 * from the trace store and records each model it fitted.
 */
export class LatencyPredictor {
  /** Intent → objective → model: nested, so a lookup builds no key string per predicted state. */
  private readonly models = new Map<string, Map<string, LatencyModel>>();
  private readonly last: {
    state?: PlanState;
    goal?: Goal;
    cpu: number;
    throughput: number | undefined;
    latency: { name: string; current: number; model: LatencyModel | undefined }[];
  } = { cpu: 0, throughput: undefined, latency: [] };

  constructor(
    private readonly actuator: string,
    private readonly traces: TraceStore,
    private readonly lookBack: number,
  ) {}

  /** Whether every latency objective of the goal has a fitted model (and a throughput to feed it). */
  modelled(state: PlanState, goal: Goal): boolean {
    // Actuators ask this first in each nextState: what `predict` cached is only reused within one.
    this.last.state = undefined;
    if (throughputOf(state, goal) === undefined) return false;
    const models = this.models.get(state.intent);
    for (const name in goal) if (goal[name]!.type === 'latency' && !models?.has(name)) return false;
    return true;
  }

  /** Writes the predicted latencies of `to` (replicas, CPU per pod) into `next.objectives`. */
  predict(state: PlanState, goal: Goal, next: PlanState): void {
    // An actuator predicts several states from one: what they share is worked out once.
    const last = this.last;
    if (state !== last.state || goal !== last.goal) {
      last.state = state;
      last.goal = goal;
      last.cpu = podCpu(state);
      last.throughput = throughputOf(state, goal);
      const models = this.models.get(state.intent);
      last.latency = [];
      for (const name in goal) {
        const current = state.objectives[name];
        if (goal[name]!.type !== 'latency' || current === undefined) continue;
        last.latency.push({ name, current, model: models?.get(name) });
      }
    }
    const cpu = next.cpu === state.cpu ? last.cpu : podCpu(next);
    const throughput = last.throughput;
    for (const { name, current, model } of last.latency)
      next.objectives[name] =
        model && throughput !== undefined
          ? model.predict(throughput, next.replicas, cpu)
          : proportionalLatency(
              current,
              { replicas: state.replicas, cpu: last.cpu },
              { replicas: next.replicas, cpu },
            );
  }

  setModel(intent: string, objective: string, model: LatencyModel): void {
    let models = this.models.get(intent);
    if (!models) {
      models = new Map();
      this.models.set(intent, models);
    }
    models.set(objective, model);
  }

  /** Refits each latency objective's model on the intent's last `lookBack` traced events. */
  async refit(state: PlanState, goal: Goal): Promise<void> {
    const events = await this.traces.recentEvents(state.intent, this.lookBack);
    const throughputName = Object.keys(goal).find((n) => goal[n]!.type === 'throughput');
    if (!throughputName) return;
    for (const name in goal) {
      if (goal[name]!.type !== 'latency') continue;
      const samples: LatencySample[] = [];
      for (const e of events) {
        const latency = e.current[name];
        const throughput = e.current[throughputName];
        if (latency === undefined || throughput === undefined) continue;
        let cpu = 0;
        for (const c in e.resources) cpu += e.resources[c]!.request;
        samples.push({ latency, throughput, replicas: e.replicas, cpu });
      }
      const model = LatencyModel.fromSamples(samples);
      if (!model) continue;
      this.setModel(state.intent, name, model);
      await this.traces.recordModel({
        intent: state.intent,
        actuator: this.actuator,
        objective: name,
        time: new Date().toISOString(),
        fit: model.fit,
      });
    }
  }
}
