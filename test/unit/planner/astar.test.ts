import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuScaleActuator } from '../../../src/planner/actuators/cpu-scale.js';
import { RmPodActuator } from '../../../src/planner/actuators/rm-pod.js';
import { ScaleOutActuator, scalingActuators } from '../../../src/planner/actuators/scaling.js';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { DEFAULT_CONFIG } from '../../../src/planner/config.js';
import { LatencyPredictor } from '../../../src/planner/models/latency-predictor.js';
import type { Goal } from '../../../src/planner/state.js';
import type { WorkloadUpdater } from '../../../src/planner/workload.js';
import { linearHistory, MemoryTraces, p95Goal, workload } from './support.js';

// Planning never touches the cluster: nextState is pure.
const noUpdates = undefined as unknown as WorkloadUpdater;
const planner = new AStarPlanner({ maxStates: 2000, maxCandidates: 10, opportunisticCandidates: 0 });
const scaling = (traces = new MemoryTraces()) =>
  scalingActuators(DEFAULT_CONFIG.actuators.scale_out, noUpdates, traces);

test('with scarce data the plan scales out one replica at a time until the prior predicts the goal', async () => {
  const plan = await planner.plan(workload(1, { p95: 40, rps: 100 }), p95Goal(15), scaling(), 0.5);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(
    plan.actions.map((a) => a.properties['replicas']),
    [2, 3],
  );
  assert.ok(plan.state.objectives['p95']! <= 15);
});

test('once a model is fitted from traces, one scale-out step goes straight to the replicas needed', async () => {
  const traces = new MemoryTraces(linearHistory('shop/web'));
  const actuators = scaling(traces);
  const start = workload(1, { p95: 2 + 0.1 * 800, rps: 800 }, 1000);
  for (const a of actuators) await a.effect(start, p95Goal(10));
  assert.equal(traces.models.length, 1, 'the fitted model is recorded');
  assert.ok(Math.abs(traces.models[0]!.fit.slope - 0.1) < 1e-9);
  const plan = await planner.plan(start, p95Goal(10.5), actuators, 0.5);
  // 2 + 0.1 × 800 / r ≤ 10.5 ⇒ r ≥ 9.4
  assert.deepEqual(plan.actions, [{ name: 'scale_out', properties: { factor: 9, replicas: 10 } }]);
});

test('a met goal with room to spare scales in, keeping headroom under the bound', async () => {
  const plan = await planner.plan(workload(4, { p95: 2, rps: 10 }), p95Goal(10), scaling(), 0.5);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(plan.actions, [{ name: 'scale_in', properties: { factor: -1, replicas: 3 } }]);
  const tight = await planner.plan(workload(4, { p95: 9, rps: 10 }), p95Goal(10), scaling(), 0.5);
  assert.deepEqual(tight.actions, [], 'scaling in would break the objective');
});

test('out of reach: the opportunistic plan moves to the closest state (max_pods), flagged as not reaching the goal', async () => {
  const config = { ...DEFAULT_CONFIG.actuators.scale_out, max_pods: 3 };
  const actuators = [
    new ScaleOutActuator(config, noUpdates, new LatencyPredictor('scaling', new MemoryTraces(), 20)),
  ];
  const plan = await planner.plan(workload(1, { p95: 90, rps: 100 }), p95Goal(10), actuators, 0.5);
  assert.equal(plan.reachesGoal, false);
  assert.equal(plan.state.replicas, 3);
  assert.ok(plan.actions.length > 0);
});

test('max_states bounds the search', async () => {
  const small = new AStarPlanner({ maxStates: 5, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await small.plan(workload(1, { p95: 1000, rps: 100 }), p95Goal(1), scaling(), 0.5);
  assert.ok(plan.states <= 5, `${plan.states} states`);
  assert.equal(plan.reachesGoal, false);
});

test('the vertical actuator meets a latency objective on a single replica, rounding and boosting limits', async () => {
  const config = { ...DEFAULT_CONFIG.actuators.cpu_scale, boost_factor: 1.5 };
  const cpu = new CpuScaleActuator(config, noUpdates, new MemoryTraces());
  const start = workload(1, { p95: 30, rps: 50 }, 450);
  const candidates = cpu.nextState(start, p95Goal(20), 10);
  assert.deepEqual(
    candidates.map((c) => [c.action.properties['cpu'], c.state.cpu['app']]),
    [[500, { request: 500, limit: 750 }]],
    'one rounded step up while data is scarce (no step down: it would not keep headroom)',
  );
  const plan = await planner.plan(start, p95Goal(20), [cpu], 1);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(plan.actions.at(-1), { name: 'cpu_scale', properties: { container: 'app', cpu: 700 } });
});

test('rm_pod replaces an unhealthy pod to restore availability, never below min_pods', async () => {
  const start = workload(3, { avail: 2 / 3 });
  start.pods['web-1'] = { ready: true, restarts: 4, failed: false };
  const goal: Goal = { avail: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' } };
  const rm = new RmPodActuator(DEFAULT_CONFIG.actuators.rm_pod, noUpdates);
  const plan = await planner.plan(start, goal, [rm], 0.5);
  assert.deepEqual(plan.actions, [{ name: 'rm_pod', properties: { name: 'web-1' } }]);
  assert.equal(plan.state.objectives['avail'], 1);
  const guarded = new RmPodActuator({ min_pods: 3, look_back: 20 }, noUpdates);
  assert.deepEqual(guarded.nextState(start, goal, 10), []);
});
