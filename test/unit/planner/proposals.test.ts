import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Actuator, Candidate, CandidateSink } from '../../../src/planner/actuator.js';
import { CpuScaleActuator } from '../../../src/planner/actuators/cpu-scale.js';
import { RmPodActuator } from '../../../src/planner/actuators/rm-pod.js';
import { scalingActuators } from '../../../src/planner/actuators/scaling.js';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { DEFAULT_CONFIG } from '../../../src/planner/config.js';
import type { Goal, PlanState } from '../../../src/planner/state.js';
import type { PlanningEvent } from '../../../src/planner/trace/store.js';
import type { WorkloadUpdater } from '../../../src/planner/workload.js';
import { MemoryTraces, workload } from './support.js';

const noUpdates = undefined as unknown as WorkloadUpdater;

/** The same actuator seen as one without `proposeStates` (as a gRPC plugin is): nextState only. */
const builtOnly = (a: Actuator): Actuator => ({
  name: a.name,
  group: a.group,
  nextState: (s, g, limit) => a.nextState(s, g, limit),
  perform: (s, p) => a.perform(s, p),
  effect: (s, g) => a.effect(s, g),
});

/** Two containers, two unhealthy pods, five objectives: p50/p95/p99 = a + b × rps per core. */
function start(): PlanState {
  const s = workload(4, {}, 500);
  s.cpu = { sidecar: { request: 100, limit: 100 }, app: { request: 500, limit: 750 } };
  s.pods['web-1'] = { ready: true, restarts: 3, failed: false };
  s.pods['web-2'] = { ready: false, restarts: 0, failed: true };
  const load = 4000 / (4 * 0.6);
  s.objectives = {
    p50: 2 + 0.004 * load,
    p95: 5 + 0.01 * load,
    p99: 12 + 0.02 * load,
    rps: 4000,
    avail: 0.5,
  };
  return s;
}

function history(): PlanningEvent[] {
  return Array.from({ length: 12 }, (_, i) => {
    const rps = 1000 + 250 * i;
    const replicas = 1 + (i % 6);
    const app = 300 + 100 * (i % 5);
    const load = rps / (replicas * ((app + 100) / 1000));
    return {
      intent: 'shop/web',
      time: new Date(0).toISOString(),
      current: { p50: 2 + 0.004 * load, p95: 5 + 0.01 * load, p99: 12 + 0.02 * load, rps, avail: 1 },
      desired: {},
      replicas,
      resources: { sidecar: { request: 100, limit: 100 }, app: { request: app, limit: app } },
      pods: [],
      plan: [],
    };
  });
}

const goal = (p95: number, p99: number): Goal => ({
  p50: { value: 20, minimize: true, tolerance: 0.1, type: 'latency' },
  p95: { value: p95, minimize: true, tolerance: 0.05, type: 'latency' },
  p99: { value: p99, minimize: true, tolerance: 0.05, type: 'latency' },
  rps: { value: 0, minimize: false, tolerance: 0, type: 'throughput' },
  avail: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' },
});

async function actuators(fitted: boolean): Promise<Actuator[]> {
  const traces = new MemoryTraces(fitted ? history() : []);
  const config = DEFAULT_CONFIG.actuators;
  const all: Actuator[] = [
    ...scalingActuators(config.scale_out, noUpdates, traces),
    new RmPodActuator(config.rm_pod, noUpdates),
    new CpuScaleActuator({ ...config.cpu_scale, boost_factor: 1.5 }, noUpdates, traces),
  ];
  for (const a of all) await a.effect(start(), goal(40, 10));
  return all;
}

test('actuators that propose changes plan exactly as when the search is handed built candidates', async () => {
  for (const fitted of [true, false]) {
    const acts = await actuators(fitted);
    assert.ok(
      acts.every((a) => a.proposeStates),
      'the built-in actuators propose',
    );
    for (const [name, g] of Object.entries({ unreachable: goal(40, 10), reachable: goal(5.9, 100) }))
      for (const [maxStates, maxCandidates, opportunistic] of [
        [600, 10, 0],
        [300, 3, 2],
        [9, 10, 0],
      ] as const) {
        const planner = new AStarPlanner({
          maxStates,
          maxCandidates,
          opportunisticCandidates: opportunistic,
        });
        const built = await planner.plan(start(), g, acts.map(builtOnly), 0.5);
        const what = `${name} goal, fitted ${fitted}, ${maxStates} states, ${maxCandidates} candidates`;
        assert.ok(built.actions.length > 0, what);
        assert.deepEqual(await planner.plan(start(), g, acts, 0.5), built, what);
        // Mixed, a state one actuator proposes and another hands over built must be found as one:
        // the key derived from the parent's and the key packed from the state agree.
        for (const proposing of [
          [true, false, true, false],
          [false, true, false, true],
        ]) {
          const mixed = acts.map((a, i) => (proposing[i] ? a : builtOnly(a)));
          assert.deepEqual(await planner.plan(start(), g, mixed, 0.5), built, `${what}, mixed`);
        }
      }
  }
});

test('one search mixes proposing and built-only actuators, and a state either reaches is one state', async () => {
  const [out] = await actuators(true);
  // Reaches 5 replicas as a built candidate, which scale_out also proposes from 4.
  const toFive: Actuator = {
    name: 'to_five',
    group: 'test',
    nextState: (s, g, limit) =>
      s.replicas === 4
        ? (out!.nextState(s, g, limit) as Candidate[])
            .slice(0, 1)
            .map((c) => ({ ...c, utility: 0.01, action: { name: 'to_five', properties: {} } }))
        : [],
    perform: async () => {},
    effect: async () => {},
  };
  const g = goal(40, 10);
  const planner = new AStarPlanner({ maxStates: 2, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await planner.plan(start(), g, [out!, toFive], 1);
  // The start and 5 replicas (proposed, then reached again built and cheaper): two states.
  assert.equal(plan.states, 2);
  assert.equal(plan.state.replicas, 5);
  assert.equal(plan.reachesGoal, false);
  assert.equal(plan.actions[0]!.name, 'to_five', 'the cheaper path to 5 replicas replaced the proposed one');
});

/** An actuator that proposes replicas 1…n above the state's, each at utility 0.1. */
class Proposing implements Actuator {
  readonly name = 'proposing';
  readonly group = 'test';
  proposed = 0;
  kept = 0;
  constructor(
    private readonly n: number,
    private readonly mode: 'take' | 'forget' | 'unknown-container' = 'take',
  ) {}
  nextState(): Candidate[] {
    throw new Error('the search must not ask nextState of an actuator that proposes');
  }
  proposeStates(state: PlanState, _goal: Goal, _limit: number, sink: CandidateSink): void {
    if (this.mode === 'unknown-container') {
      sink.cpu('nope', 100, 100, 0.1);
      return;
    }
    for (let k = 1; k <= this.n; k++) {
      this.proposed++;
      // Never within reach of the goal (dist ≤ 1), so the search runs to its state bound.
      sink.objectives[sink.objectiveIndex('dist')] = 2 + 1 / (state.replicas + k);
      if (!sink.replicas(state.replicas + k, 0.1)) continue;
      this.kept++;
      if (this.mode === 'take') sink.take({ name: this.name, properties: { replicas: state.replicas + k } });
    }
  }
  async perform(): Promise<void> {}
  async effect(): Promise<void> {}
}
const distGoal: Goal = { dist: { value: 1, minimize: true, tolerance: 0, type: 'latency' } };

test('max_candidates counts proposals, max_states bounds the states proposals add', async () => {
  const proposing = new Proposing(30);
  const planner = new AStarPlanner({ maxStates: 25, maxCandidates: 4, opportunisticCandidates: 0 });
  const plan = await planner.plan(workload(1, { dist: 3 }), distGoal, [proposing], 1);
  assert.equal(plan.states, 25);
  for (const a of plan.actions) assert.ok((a.properties['replicas'] as number) >= 2);
  let at = 1;
  for (const a of plan.actions) {
    const to = a.properties['replicas'] as number;
    assert.ok(to - at >= 1 && to - at <= 4, `${at} → ${to}: at most 4 candidates per expansion`);
    at = to;
  }
  // Only new states (24) and cheaper paths to open ones are kept, and only those are built.
  assert.ok(proposing.kept >= 24 && proposing.kept < proposing.proposed / 2, `${proposing.kept} kept`);
});

test('a proposing actuator that breaks the sink contract gets an error naming it', async () => {
  const planner = new AStarPlanner({ maxStates: 20, maxCandidates: 4, opportunisticCandidates: 0 });
  await assert.rejects(
    planner.plan(workload(1, { dist: 9 }), distGoal, [new Proposing(3, 'forget')], 1),
    /actuator proposing did not take the action of a proposal the search kept/,
  );
  await assert.rejects(
    planner.plan(workload(1, { dist: 9 }), distGoal, [new Proposing(3, 'unknown-container')], 1),
    /actuator proposing proposed CPU for container nope, which the state does not have/,
  );
});

test('rm_pod still adds an availability objective the state lacks', async () => {
  const s = workload(3, {});
  s.pods['web-1'] = { ready: true, restarts: 4, failed: false };
  const g: Goal = { avail: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' } };
  const rm = new RmPodActuator(DEFAULT_CONFIG.actuators.rm_pod, noUpdates);
  const planner = new AStarPlanner({ maxStates: 10, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await planner.plan(s, g, [rm], 0.5);
  assert.deepEqual(plan.actions, [{ name: 'rm_pod', properties: { name: 'web-1' } }]);
  assert.deepEqual(plan.state.objectives, { avail: 1 });
  assert.deepEqual(Object.keys(plan.state.pods), ['web-0', 'web-1~replacement', 'web-2']);
});
