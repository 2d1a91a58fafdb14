import type { Goal, PlanState } from '../../../src/planner/state.js';
import type { FittedModel, PlanningEvent, TraceStore } from '../../../src/planner/trace/store.js';

/** A workload with one container at `cpu` millicores, `replicas` healthy pods and observed KPIs. */
export function workload(replicas: number, objectives: Record<string, number>, cpu = 500): PlanState {
  const pods: PlanState['pods'] = {};
  for (let i = 0; i < replicas; i++) pods[`web-${i}`] = { ready: true, restarts: 0, failed: false };
  return {
    intent: 'shop/web',
    target: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    replicas,
    cpu: { app: { request: cpu, limit: cpu } },
    pods,
    objectives,
  };
}

export const p95Goal = (value: number): Goal => ({
  p95: { value, minimize: true, tolerance: 0, type: 'latency' },
  rps: { value: 0, minimize: false, tolerance: 0, type: 'throughput' },
});

/** The traces of a workload whose p95 is exactly 2 + 0.1 × (rps per core). */
export function linearHistory(intent: string): PlanningEvent[] {
  const out: PlanningEvent[] = [];
  for (const [rps, replicas, cpu] of [
    [100, 1, 1000],
    [200, 1, 1000],
    [300, 2, 1000],
    [400, 2, 500],
    [500, 4, 1000],
    [600, 3, 2000],
  ] as const) {
    out.push({
      intent,
      time: new Date(0).toISOString(),
      current: { p95: 2 + (0.1 * rps) / (replicas * (cpu / 1000)), rps },
      desired: { p95: 10, rps: 0 },
      replicas,
      resources: { app: { request: cpu, limit: cpu } },
      pods: [],
      plan: [],
    });
  }
  return out;
}

/** An in-memory TraceStore holding given events, for actuators' effect(). */
export class MemoryTraces implements TraceStore {
  readonly models: FittedModel[] = [];
  constructor(private readonly events: PlanningEvent[] = []) {}
  async recordEvent(e: PlanningEvent): Promise<void> {
    this.events.push(e);
  }
  async recentEvents(intent: string, limit: number): Promise<PlanningEvent[]> {
    return this.events
      .filter((e) => e.intent === intent)
      .slice(-limit)
      .reverse();
  }
  async recordModel(m: FittedModel): Promise<void> {
    this.models.push(m);
  }
  async latestModel(intent: string, actuator: string, objective: string): Promise<FittedModel | undefined> {
    return this.models.findLast(
      (m) => m.intent === intent && m.actuator === actuator && m.objective === objective,
    );
  }
  async close(): Promise<void> {}
}
