/**
 * Planning time and memory per plan for A* bounded at 2,000 and 5,000 states, 10 candidates per
 * actuator, beside a breadth-first search over the same graph (same actuators, bounds and hashed
 * duplicate detection) in the same run. Target: p99 ≤ 50 ms at 5,000 states.
 *
 * The graph is the real one: scale_out, scale_in, rm_pod and cpu_scale with their default
 * bounds (1–128 replicas, 100–4000 millicores in steps of 100), each with latency models fitted by
 * its own `effect()` from traced history, on a workload with two containers, unhealthy pods and
 * five objectives (p50/p95/p99 latency, throughput, availability). Two goals:
 * - unreachable: p99 under what the fitted model allows at any size, so every search runs to its
 *   state bound and ends in an opportunistic plan (the worst case, and the target's);
 * - reachable: a p95 bound that takes roughly 10× today's capacity.
 *
 *   node --expose-gc --import tsx bench/planner/plan.ts [--runs N]
 */

import { loadavg } from 'node:os';
import type { Actuator, Candidate, CandidateSink } from '../../src/planner/actuator.js';
import { CpuScaleActuator } from '../../src/planner/actuators/cpu-scale.js';
import { RmPodActuator } from '../../src/planner/actuators/rm-pod.js';
import { scalingActuators } from '../../src/planner/actuators/scaling.js';
import { AStarPlanner } from '../../src/planner/astar.js';
import { DEFAULT_CONFIG } from '../../src/planner/config.js';
import { type Goal, isGoal, type PlanState } from '../../src/planner/state.js';
import { StateTable } from '../../src/planner/state-table.js';
import type { FittedModel, PlanningEvent, TraceStore } from '../../src/planner/trace/store.js';
import type { WorkloadUpdater } from '../../src/planner/workload.js';
import { percentile, report } from '../support.js';

const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 100;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs takes a positive integer');

const INTENT = 'bench/web';
/** The workload's latencies: intercept + slope × load per requested core (ms). */
const LATENCY = { p50: [2, 0.004], p95: [5, 0.01], p99: [12, 0.02] } as const;
const latencies = (rps: number, replicas: number, cpu: number) => {
  const load = rps / (replicas * (cpu / 1000));
  return {
    p50: LATENCY.p50[0] + LATENCY.p50[1] * load,
    p95: LATENCY.p95[0] + LATENCY.p95[1] * load,
    p99: LATENCY.p99[0] + LATENCY.p99[1] * load,
  };
};

/** Traced history the actuators fit their models on: 20 observations at varied sizes and load. */
function history(): PlanningEvent[] {
  const out: PlanningEvent[] = [];
  for (let i = 0; i < 20; i++) {
    const rps = 1000 + 250 * i;
    const replicas = 1 + (i % 6);
    const app = 300 + 100 * (i % 5);
    out.push({
      intent: INTENT,
      time: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
      current: { ...latencies(rps, replicas, app + 100), rps, avail: 1 },
      desired: {},
      replicas,
      resources: { sidecar: { request: 100, limit: 100 }, app: { request: app, limit: app } },
      pods: [],
      plan: [],
    });
  }
  return out;
}

const traces: TraceStore = {
  recordEvent: async () => {},
  recentEvents: async (intent, limit) =>
    history()
      .filter((e) => e.intent === intent)
      .slice(-limit)
      .reverse(),
  recordModel: async () => {},
  latestModel: async (): Promise<FittedModel | undefined> => undefined,
  close: async () => {},
};
// Planning never touches the cluster: nextState is pure.
const noUpdates = undefined as unknown as WorkloadUpdater;

const RPS = 4000;
const pod = (restarts: number, failed = false) => ({ ready: !failed, restarts, failed });
const start: PlanState = {
  intent: INTENT,
  target: { kind: 'Deployment', namespace: 'bench', name: 'web' },
  replicas: 4,
  cpu: { sidecar: { request: 100, limit: 100 }, app: { request: 500, limit: 750 } },
  pods: { 'web-7d9f-a': pod(0), 'web-7d9f-b': pod(3), 'web-7d9f-c': pod(0, true), 'web-7d9f-d': pod(0) },
  objectives: { ...latencies(RPS, 4, 600), rps: RPS, avail: 0.5 },
};

const objectives = (p95: number, p99: number): Goal => ({
  p50: { value: 20, minimize: true, tolerance: 0.1, type: 'latency' },
  p95: { value: p95, minimize: true, tolerance: 0.05, type: 'latency' },
  p99: { value: p99, minimize: true, tolerance: 0.05, type: 'latency' },
  rps: { value: 0, minimize: false, tolerance: 0, type: 'throughput' },
  avail: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' },
});
const goals: Record<string, Goal> = {
  // p99 can never go under its intercept (12 ms).
  unreachable: objectives(40, 10),
  // Load per core ≤ ~90 (today ~1,670): about 10× the capacity.
  reachable: objectives(5.9, 100),
};

async function actuators(): Promise<Actuator[]> {
  const config = DEFAULT_CONFIG.actuators;
  const [out, inn] = scalingActuators(config.scale_out, noUpdates, traces);
  const cpu = new CpuScaleActuator({ ...config.cpu_scale, boost_factor: 1.5 }, noUpdates, traces);
  const rm = new RmPodActuator(config.rm_pod, noUpdates);
  const all = [out, inn, rm, cpu];
  // Fit the models the way the planner does, so every actuator offers its full set of candidates.
  for (const a of all) await a.effect(start, goals['unreachable']!);
  return all;
}

/** The baseline: breadth-first over the same graph and the same state table; first goal state wins. */
async function breadthFirst(goal: Goal, maxStates: number, maxCandidates: number, acts: Actuator[]) {
  const table = new StateTable(maxStates);
  table.find(start);
  table.insert(start, 0, 0, -1, undefined);
  for (let next = 0; next < table.size && table.size < maxStates; next++) {
    const state = table.states[next]!;
    if (isGoal(state, goal)) break;
    for (const a of acts) {
      const cs = (await a.nextState(state, goal, maxCandidates)) as Candidate[];
      for (let i = 0; i < Math.min(cs.length, maxCandidates); i++) {
        if (table.find(cs[i]!.state) >= 0 || table.size >= maxStates) continue;
        table.insert(cs[i]!.state, 0, 0, next, cs[i]!.action);
      }
    }
  }
  return table.size;
}

const gc = (globalThis as { gc?: () => void }).gc;

interface Figures {
  p50: number;
  p99: number;
  cpu50: number;
  cpu99: number;
  states: number;
}

async function time(run: () => Promise<number>): Promise<Figures> {
  const wall: number[] = [];
  const cpu: number[] = [];
  let states = 0;
  for (let i = 0; i < Math.min(5, RUNS); i++) await run(); // warm up the JIT
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    states = await run();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return {
    p50: percentile(wall, 50),
    p99: percentile(wall, 99),
    cpu50: percentile(cpu, 50),
    cpu99: percentile(cpu, 99),
    states,
  };
}

/**
 * Peak live heap of one plan: the actuators are wrapped so that every 200th call collects garbage
 * and samples the heap, which then holds only what the search keeps (its states and tables).
 */
async function peakHeap(run: (acts: Actuator[]) => Promise<number>, acts: Actuator[]): Promise<number> {
  if (!gc) return Number.NaN;
  let calls = 0;
  let peak = 0;
  const sample = () => {
    if (++calls % 200 === 0) {
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
  };
  const sampled = acts.map(
    (a): Actuator => ({
      name: a.name,
      group: a.group,
      perform: (s, p) => a.perform(s, p),
      effect: (s, g) => a.effect(s, g),
      nextState: (s, g, limit) => {
        sample();
        return a.nextState(s, g, limit);
      },
      ...(a.proposeStates && {
        proposeStates: (s: PlanState, g: Goal, limit: number, sink: CandidateSink) => {
          sample();
          a.proposeStates!(s, g, limit, sink);
        },
      }),
    }),
  );
  const peaks: number[] = [];
  for (let i = 0; i < 3; i++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    peak = before;
    await run(sampled);
    peaks.push(peak - before);
  }
  return Math.max(...peaks) / 1024 / 1024;
}

const acts = await actuators();
const [cores1] = loadavg();
console.log(
  `${RUNS} plans per figure; 4 actuators × up to 10 candidates; load average ${cores1!.toFixed(1)} at start` +
    (gc ? '' : ' (run with --expose-gc for the memory figures)'),
);
for (const [name, goal] of Object.entries(goals)) {
  for (const maxStates of [2000, 5000]) {
    const astar = new AStarPlanner({ maxStates, maxCandidates: 10, opportunisticCandidates: 0 });
    const plan = await astar.plan(start, goal, acts, 0.5);
    const bfsStates = await breadthFirst(goal, maxStates, 10, acts);
    console.log(
      `\n${name} goal, max_states ${maxStates}: A* generated ${plan.states} states, ` +
        `${plan.reachesGoal ? 'reaches the goal' : 'opportunistic'} in ${plan.actions.length} actions; ` +
        `breadth-first generated ${bfsStates}`,
    );
    const a = await time(async () => (await astar.plan(start, goal, acts, 0.5)).states);
    const b = await time(() => breadthFirst(goal, maxStates, 10, acts));
    const target = name === 'unreachable' && maxStates === 5000 ? '≤ 50 ms' : undefined;
    report('  A* p50 per plan', a.p50, 'ms', 'breadth-first p50', b.p50);
    report('  A* p99 per plan', a.p99, 'ms', 'breadth-first p99', b.p99, target);
    report('  A* CPU time p50', a.cpu50, 'ms', 'breadth-first', b.cpu50);
    report('  A* CPU time p99', a.cpu99, 'ms', 'breadth-first', b.cpu99);
    const memA = await peakHeap((s) => astar.plan(start, goal, s, 0.5).then((p) => p.states), acts);
    const memB = await peakHeap((s) => breadthFirst(goal, maxStates, 10, s), acts);
    report('  A* peak live heap per plan', memA, 'MiB', 'breadth-first', memB);
  }
}
