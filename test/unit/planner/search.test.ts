import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Actuator, Candidate } from '../../../src/planner/actuator.js';
import { RmPodActuator } from '../../../src/planner/actuators/rm-pod.js';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { DEFAULT_CONFIG } from '../../../src/planner/config.js';
import { GoalTerms } from '../../../src/planner/goal-terms.js';
import { IdHeap } from '../../../src/planner/heap.js';
import { distance, type Goal, isGoal, type PlanState } from '../../../src/planner/state.js';
import { StateTable } from '../../../src/planner/state-table.js';
import type { WorkloadUpdater } from '../../../src/planner/workload.js';
import { p95Goal, workload } from './support.js';

const noUpdates = undefined as unknown as WorkloadUpdater;

test('the state table finds equal states by value, whatever object or pod order they come in', () => {
  const table = new StateTable(16);
  const a = workload(2, { p95: 12.5, rps: 100 });
  assert.equal(table.find(a), -1);
  const id = table.insert(a, 0, 0, -1, undefined);
  const same = workload(2, { p95: 12.5 + 1e-6, rps: 100 }); // below the key's rounding
  assert.equal(table.find(same), id);
  const reordered = { ...same, pods: { 'web-1': same.pods['web-1']!, 'web-0': same.pods['web-0']! } };
  assert.equal(table.find(reordered), id, 'pods are a set');
  for (const other of [
    workload(3, { p95: 12.5, rps: 100 }),
    workload(2, { p95: 12.6, rps: 100 }),
    workload(2, { p95: 12.5, rps: 100 }, 600),
    { ...a, pods: { 'web-0': a.pods['web-0']!, 'web-1~replacement': a.pods['web-1']! } },
    { ...a, objectives: { p95: 12.5, rps: 100, avail: 1 } },
  ])
    assert.equal(table.find(other), -1, JSON.stringify(other));
  const nan = workload(1, { p95: Number.NaN });
  assert.equal(table.find(nan), -1);
  const nanId = table.insert(nan, 0, 0, -1, undefined);
  assert.equal(table.find(workload(1, { p95: Number.NaN })), nanId, 'a NaN objective is one value');
});

test('the state table keeps every state findable as it grows past its first capacity', () => {
  const table = new StateTable(16);
  const state = (r: number) => ({
    ...workload(1, { p95: r / 7, rps: 1e9 + r }, 100 * (r % 13)),
    replicas: r,
  });
  for (let r = 1; r <= 3000; r++) {
    assert.equal(table.find(state(r)), -1);
    assert.equal(
      table.insert(state(r), r, 0, r - 2, { name: 'scale_out', properties: { replicas: r } }),
      r - 1,
    );
  }
  for (let r = 1; r <= 3000; r++) assert.equal(table.find(state(r)), r - 1);
  assert.equal(table.size, 3000);
  assert.equal(table.g[2999], 3000);
  assert.deepEqual(
    table.path(3).map((a) => a.properties['replicas']),
    [1, 2, 3, 4],
  );
});

test('the open list pops by priority, ties by the tie-breaker then age, and moves a cheaper id up', () => {
  const heap = new IdHeap(2);
  heap.push(0, 5, 0);
  heap.push(1, 3, 1);
  heap.push(2, 3, 0);
  heap.push(3, 9, 0);
  heap.push(4, 3, 0);
  heap.push(3, 1, 0); // decrease-key
  heap.push(1, 8, 0); // a dearer path does not move it
  assert.equal(heap.size, 5);
  const order: number[] = [];
  for (let id = heap.pop(); id >= 0; id = heap.pop()) order.push(id);
  assert.deepEqual(order, [3, 2, 4, 1, 0]);
  assert.equal(heap.has(3), false);
});

test('goal terms agree with isGoal and distance', () => {
  const goal: Goal = {
    ...p95Goal(10),
    avail: { value: 0.99, minimize: false, tolerance: 0.01, type: 'availability' },
  };
  const terms = new GoalTerms(goal);
  for (const objectives of <Record<string, number>[]>[
    { p95: 9, rps: 5, avail: 1 },
    { p95: 11, rps: 5, avail: 0.5 },
    { p95: Number.NaN, rps: 5, avail: 1 },
    { p95: 9, avail: 0.9 },
  ]) {
    const s = workload(1, objectives);
    const standing = terms.measure(s);
    assert.equal(standing.unmet === 0, isGoal(s, goal), JSON.stringify(objectives));
    assert.ok(Math.abs(standing.distance - distance(s, goal)) < 1e-12, JSON.stringify(objectives));
  }
});

/**
 * An actuator over an explicit graph: a state is a node (its replicas), its one objective
 * `dist` says how far it is from the goal `dist ≤ 1`.
 */
class GraphActuator implements Actuator {
  readonly name = 'hop';
  readonly group = 'test';
  constructor(
    private readonly edges: Record<number, [to: number, utility: number][]>,
    private readonly dist: Record<number, number>,
  ) {}
  nextState(state: PlanState): Candidate[] {
    return (this.edges[state.replicas] ?? []).map(([to, utility]) => ({
      state: { ...state, replicas: to, objectives: { dist: this.dist[to]! } },
      utility,
      action: { name: this.name, properties: { to } },
    }));
  }
  async perform(): Promise<void> {}
  async effect(): Promise<void> {}
}
const distGoal: Goal = { dist: { value: 1, minimize: true, tolerance: 0, type: 'latency' } };
const node = (n: number, dist: number) => ({ ...workload(1, { dist }), replicas: n });

test('a cheaper path to a state still open replaces the dearer one', async () => {
  // 1 → 4 directly costs 0.9; 1 → 2 → 3 → 4 costs 0.3 and is found while 4 is still open (it
  // looks farther from the goal than 2 and 3). The goal is 4's neighbour 5.
  const graph = new GraphActuator(
    {
      1: [
        [4, 0.9],
        [2, 0.1],
      ],
      2: [[3, 0.1]],
      3: [[4, 0.1]],
      4: [[5, 0.1]],
    },
    { 1: 5, 2: 2, 3: 2, 4: 3, 5: 1 },
  );
  const planner = new AStarPlanner({ maxStates: 100, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await planner.plan(node(1, 4), distGoal, [graph], 1);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(
    plan.actions.map((a) => a.properties['to']),
    [2, 3, 4, 5],
  );
  assert.ok(Math.abs(plan.cost - 0.4) < 1e-9);
  assert.equal(plan.states, 5, 'state 4 is counted once');
});

test('opportunistic mode: the closest state, or the cheapest path among the n closest', async () => {
  // No state reaches dist 1. 2 is closest but dear; 3 is nearly as close and cheap.
  const graph = new GraphActuator(
    {
      1: [
        [2, 5],
        [3, 0.1],
        [4, 0.1],
      ],
    },
    { 1: 10, 2: 2, 3: 2.5, 4: 8 },
  );
  const closest = new AStarPlanner({ maxStates: 100, maxCandidates: 10, opportunisticCandidates: 0 });
  const a = await closest.plan(node(1, 10), distGoal, [graph], 1);
  assert.equal(a.reachesGoal, false);
  assert.deepEqual(a.actions, [{ name: 'hop', properties: { to: 2 } }]);
  const cheapest = new AStarPlanner({ maxStates: 100, maxCandidates: 10, opportunisticCandidates: 2 });
  const b = await cheapest.plan(node(1, 10), distGoal, [graph], 1);
  assert.deepEqual(b.actions, [{ name: 'hop', properties: { to: 3 } }]);
  // Nothing closer than the start: an empty plan that does not claim the goal.
  const stuck = await closest.plan(node(4, 8), distGoal, [graph], 1);
  assert.deepEqual(stuck.actions, []);
  assert.equal(stuck.reachesGoal, false);
});

test('max_states and max_candidates bound the search exactly', async () => {
  // A line of states 1 → 2 → … where each offers 30 candidates; the goal is unreachable.
  const edges: Record<number, [number, number][]> = {};
  const dist: Record<number, number> = {};
  for (let n = 1; n <= 5000; n++) {
    dist[n] = 2 + 1 / n;
    edges[n] = Array.from({ length: 30 }, (_, k) => [Math.min(5000, n + k + 1), 0.1] as [number, number]);
  }
  const graph = new GraphActuator(edges, dist);
  for (const maxStates of [1, 7, 250]) {
    const planner = new AStarPlanner({ maxStates, maxCandidates: 10, opportunisticCandidates: 0 });
    const plan = await planner.plan(node(1, dist[1]!), distGoal, [graph], 1);
    assert.equal(plan.states, maxStates);
    // Only the first 10 candidates of each expansion count: every step is at most 10 long.
    let at = 1;
    for (const a of plan.actions) {
      const to = a.properties['to'] as number;
      assert.ok(to - at >= 1 && to - at <= 10, `${at} → ${to}`);
      at = to;
    }
  }
});

test('replacing two unhealthy pods in either order reaches one state', async () => {
  const start = workload(3, { avail: 1 / 3 });
  start.pods['web-0'] = { ready: false, restarts: 0, failed: true };
  start.pods['web-1'] = { ready: true, restarts: 2, failed: false };
  const goal: Goal = { avail: { value: 1, minimize: false, tolerance: 0, type: 'availability' } };
  const rm = new RmPodActuator(DEFAULT_CONFIG.actuators.rm_pod, noUpdates);
  const planner = new AStarPlanner({ maxStates: 100, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await planner.plan(start, goal, [rm], 0.5);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(plan.actions.map((a) => a.properties['name']).sort(), ['web-0', 'web-1']);
  assert.equal(plan.state.objectives['avail'], 1);
  // start, either pod replaced, both replaced: four states, not five.
  assert.equal(plan.states, 4);
  assert.deepEqual(Object.keys(start.pods), ['web-0', 'web-1', 'web-2'], 'the start state is untouched');
});
