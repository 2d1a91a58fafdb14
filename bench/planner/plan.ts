/**
 * Planning time and memory per plan for A* bounded at 2,000 and 5,000 states, 10 candidates per
 * actuator, beside a breadth-first search over the same graph (same actuators, bounds and hashed
 * duplicate detection). Target: p99 ≤ 50 ms at 5,000 states.
 *
 *   node --expose-gc --import tsx bench/planner/plan.ts
 */

import type { Actuator, Candidate } from '../../src/planner/actuator.js';
import { CpuScaleActuator } from '../../src/planner/actuators/cpu-scale.js';
import { scalingActuators } from '../../src/planner/actuators/scaling.js';
import { AStarPlanner } from '../../src/planner/astar.js';
import { DEFAULT_CONFIG } from '../../src/planner/config.js';
import { LatencyModel } from '../../src/planner/models/latency-model.js';
import { type Goal, isGoal, type PlanState, stateKey } from '../../src/planner/state.js';
import type { FittedModel, PlanningEvent, TraceStore } from '../../src/planner/trace/store.js';
import type { WorkloadUpdater } from '../../src/planner/workload.js';
import { percentile, report } from '../support.js';

const noTraces: TraceStore = {
  recordEvent: async () => {},
  recentEvents: async (): Promise<PlanningEvent[]> => [],
  recordModel: async () => {},
  latestModel: async (): Promise<FittedModel | undefined> => undefined,
  close: async () => {},
};
const noUpdates = undefined as unknown as WorkloadUpdater;

function actuators(): Actuator[] {
  const config = {
    ...DEFAULT_CONFIG.actuators,
    scale_out: { ...DEFAULT_CONFIG.actuators.scale_out, max_pods: 10_000 },
  };
  const [out, inn] = scalingActuators(config.scale_out, noUpdates, noTraces);
  const cpu = new CpuScaleActuator({ ...config.cpu_scale, cpu_max: 64_000 }, noUpdates, noTraces);
  // Fitted models, so that every actuator offers its full set of candidates.
  const model = LatencyModel.fromFit({ intercept: 2, slope: 0.1, r2: 1, samples: 20 });
  for (const a of [out, cpu])
    (
      a as unknown as { predictor: { setModel: (i: string, o: string, m: LatencyModel) => void } }
    ).predictor.setModel('bench/web', 'p95', model);
  return [out, inn, cpu];
}

const start: PlanState = {
  intent: 'bench/web',
  target: { kind: 'Deployment', namespace: 'bench', name: 'web' },
  replicas: 2,
  cpu: { sidecar: { request: 100, limit: 100 }, app: { request: 500, limit: 500 } },
  pods: {
    'web-0': { ready: true, restarts: 0, failed: false },
    'web-1': { ready: true, restarts: 0, failed: false },
  },
  objectives: { p95: 2 + (0.1 * 5000) / (2 * 0.6), rps: 5000 },
};
// Below the model's floor (intercept 2): unreachable, so each search runs to its state bound.
const goal: Goal = {
  p95: { value: 1.5, minimize: true, tolerance: 0, type: 'latency' },
  rps: { value: 0, minimize: false, tolerance: 0, type: 'throughput' },
};

/** The baseline: breadth-first over the same graph, first goal state wins. */
async function breadthFirst(maxStates: number, maxCandidates: number, acts: Actuator[]): Promise<number> {
  const seen = new Set<string>([stateKey(start)]);
  let frontier: PlanState[] = [start];
  while (frontier.length && seen.size < maxStates) {
    const next: PlanState[] = [];
    for (const s of frontier) {
      if (isGoal(s, goal)) return seen.size;
      for (const a of acts) {
        const cs = (await a.nextState(s, goal, maxCandidates)) as Candidate[];
        for (let i = 0; i < Math.min(cs.length, maxCandidates); i++) {
          const key = stateKey(cs[i]!.state);
          if (seen.has(key) || seen.size >= maxStates) continue;
          seen.add(key);
          next.push(cs[i]!.state);
        }
      }
    }
    frontier = next;
  }
  return seen.size;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function measure(
  run: () => Promise<number>,
  n: number,
): Promise<{ p50: number; p99: number; mem: number; states: number }> {
  for (let i = 0; i < 5; i++) await run();
  const times: number[] = [];
  const mems: number[] = [];
  let states = 0;
  for (let i = 0; i < n; i++) {
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    states = await run();
    times.push(performance.now() - t0);
    mems.push(process.memoryUsage().heapUsed - before);
  }
  times.sort((a, b) => a - b);
  mems.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    mem: percentile(mems, 50) / 1024 / 1024,
    states,
  };
}

if (!gc) console.log('(run with --expose-gc for steadier memory figures)');
const acts = actuators();
for (const maxStates of [2000, 5000]) {
  const astar = new AStarPlanner({ maxStates, maxCandidates: 10, opportunisticCandidates: 0 });
  const a = await measure(async () => (await astar.plan(start, goal, acts, 0.5)).states, 100);
  const b = await measure(() => breadthFirst(maxStates, 10, acts), 100);
  report(`A* p50 @${maxStates} states (${a.states} generated)`, a.p50, 'ms', 'BFS p50', b.p50);
  report(
    `A* p99 @${maxStates} states`,
    a.p99,
    'ms',
    'BFS p99',
    b.p99,
    maxStates === 5000 ? '≤ 50 ms' : undefined,
  );
  report(`A* memory per plan @${maxStates} states`, a.mem, 'MiB', 'BFS', b.mem);
}
