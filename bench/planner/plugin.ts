/**
 * What a plugin costs the planner: NextState over gRPC (loopback, the plugin in this process)
 * beside the same actuator called in process, per call (p50/p99), and for a whole plan that
 * takes the plugin's candidates. A search calls NextState once per expanded state, so the
 * per-call figure times the states expanded is what a plugin adds to a plan.
 *
 *   node --import tsx bench/planner/plugin.ts [--calls N]
 */

import { loadavg } from 'node:os';
import { AStarPlanner } from '../../src/planner/astar.js';
import { PluginManager } from '../../src/planner/plugins/manager.js';
import { ScaleOutByTwoActuator } from '../../src/planner/plugins/scale-by-two.js';
import { servePlugin } from '../../src/planner/plugins/serve.js';
import type { Goal, PlanState } from '../../src/planner/state.js';
import { percentile, report } from '../support.js';

const callsFlag = process.argv.indexOf('--calls');
const CALLS = callsFlag > 0 ? Number(process.argv[callsFlag + 1]) : 2000;
if (!Number.isInteger(CALLS) || CALLS < 10) throw new Error('--calls takes a whole number ≥ 10');

const pods: PlanState['pods'] = {};
for (let i = 0; i < 8; i++) pods[`web-${i}`] = { ready: true, restarts: 0, failed: false };
const state: PlanState = {
  intent: 'bench/web',
  target: { kind: 'Deployment', namespace: 'bench', name: 'web' },
  replicas: 1,
  cpu: { app: { request: 500, limit: 1000 }, sidecar: { request: 100, limit: 100 } },
  pods,
  objectives: { p50: 20, p95: 60, p99: 90, rps: 300, availability: 1 },
};
const goal: Goal = {
  p95: { value: 1, minimize: true, tolerance: 0, type: 'latency' },
  rps: { value: 0, minimize: false, tolerance: 0, type: 'throughput' },
  availability: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' },
};

const manager = await PluginManager.start({ port: 0, host: '127.0.0.1' });
const local = new ScaleOutByTwoActuator(1 << 20, undefined);
const plugin = await servePlugin(new ScaleOutByTwoActuator(1 << 20, undefined), {
  manager: `127.0.0.1:${manager.port}`,
  port: 0,
  host: '127.0.0.1',
  advertise: '127.0.0.1',
});
const [remote] = manager.actuators();

async function timeCalls(call: () => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out.sort((a, b) => a - b);
}

// Warm both paths (JIT, the HTTP/2 connection) before measuring.
for (let i = 0; i < 200; i++) {
  local.nextState(state, goal, 10);
  await remote!.nextState(state, goal, 10);
}
const inProcess = await timeCalls(() => local.nextState(state, goal, 10));
const overGrpc = await timeCalls(() => remote!.nextState(state, goal, 10));
report('NextState p50', percentile(overGrpc, 50), 'ms', 'in process', percentile(inProcess, 50));
report('NextState p99', percentile(overGrpc, 99), 'ms', 'in process', percentile(inProcess, 99));

// A plan of doublings only (p95 60 → 1 takes six): one NextState per expansion.
const planner = new AStarPlanner({ maxStates: 2000, maxCandidates: 10, opportunisticCandidates: 0 });
const plans = async (actuator: typeof local | typeof remote) => {
  const out: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = process.hrtime.bigint();
    const plan = await planner.plan(state, goal, [actuator!], 0.5);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (plan.actions.length !== 6) throw new Error(`expected 6 doublings, got ${plan.actions.length}`);
  }
  return out.sort((a, b) => a - b);
};
const localPlans = await plans(local);
const remotePlans = await plans(remote);
report(
  'plan of 6 plugin steps p50',
  percentile(remotePlans, 50),
  'ms',
  'in process',
  percentile(localPlans, 50),
);
report(
  'plan of 6 plugin steps p99',
  percentile(remotePlans, 99),
  'ms',
  'in process',
  percentile(localPlans, 99),
);

console.log(
  `load average during the run: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
plugin.kill();
await manager.close();
