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

interface LatencyEntry {
  name: string;
  /** Position among the predicted-from state's objectives. */
  index: number;
  current: number;
  model: LatencyModel | undefined;
}

interface PredictorCache {
  state?: PlanState;
  goal?: Goal;
  cpu: number;
  throughput: number | undefined;
  latency: LatencyEntry[];
}

/**
 * The latency objectives of one intent as the workload is resized: a fitted LatencyModel per
 * objective once the traces hold enough samples, the proportional prior before. `effect` refits
 * from the trace store and records each model it fitted.
 */
export class LatencyPredictor {
  /** Intent → objective → model: nested, so a lookup builds no key string per predicted state. */
  private readonly models = new Map<string, Map<string, LatencyModel>>();
  private readonly last: PredictorCache = { cpu: 0, throughput: undefined, latency: [] };

  constructor(
    private readonly actuator: string,
    private readonly traces: TraceStore,
    private readonly lookBack: number,
  ) {}

  /** Whether every latency objective of the goal has a fitted model (and a throughput to feed it). */
  modelled(state: PlanState, goal: Goal): boolean {
    // Actuators ask this first for each state: what `prepare` cached is only reused within one.
    this.last.state = undefined;
    if (throughputOf(state, goal) === undefined) return false;
    const models = this.models.get(state.intent);
    for (const name in goal) if (goal[name]!.type === 'latency' && !models?.has(name)) return false;
    return true;
  }

  /**
   * The latencies predicted from `state` for `replicas` replicas with `cpu` millicores per pod,
   * written into `objectives` (a CandidateSink's values, in `state`'s objective order).
   */
  predictInto(state: PlanState, goal: Goal, replicas: number, cpu: number, objectives: Float64Array): void {
    for (const entry of this.prepare(state, goal).latency)
      objectives[entry.index] = this.latency(state, entry, replicas, cpu);
  }

  /** CPU per pod of `state` (the cached sum when the state is the one predictions start from). */
  podCpu(state: PlanState, goal: Goal): number {
    return this.prepare(state, goal).cpu;
  }

  private latency(state: PlanState, entry: LatencyEntry, replicas: number, cpu: number): number {
    const throughput = this.last.throughput;
    return entry.model && throughput !== undefined
      ? entry.model.predict(throughput, replicas, cpu)
      : proportionalLatency(
          entry.current,
          { replicas: state.replicas, cpu: this.last.cpu },
          { replicas, cpu },
        );
  }

  /** What the predictions from `state` share, worked out once per state. */
  private prepare(state: PlanState, goal: Goal): PredictorCache {
    const last = this.last;
    if (state !== last.state || goal !== last.goal) {
      last.state = state;
      last.goal = goal;
      last.cpu = podCpu(state);
      last.throughput = throughputOf(state, goal);
      const models = this.models.get(state.intent);
      last.latency = [];
      let index = 0;
      for (const name in state.objectives) {
        const current = state.objectives[name]!;
        const g = goal[name];
        if (g?.type === 'latency') last.latency.push({ name, index, current, model: models?.get(name) });
        index++;
      }
    }
    return last;
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
