import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Action, Actuator } from '../../../src/planner/actuator.js';
import { type PluginEvent, PluginManager } from '../../../src/planner/plugins/manager.js';
import { PluginCallError } from '../../../src/planner/plugins/remote-actuator.js';
import { servePlugin } from '../../../src/planner/plugins/serve.js';
import { stateFromWire, stateToWire } from '../../../src/planner/plugins/wire.js';
import type { PlanState } from '../../../src/planner/state.js';
import { WorkloadChangedError } from '../../../src/planner/workload.js';
import { performBeforeGeneration } from './fixtures/plugin-before-generation.js';
import { p95Goal, workload } from './support.js';

/** A state as the planner observed it: the Deployment at generation 7. */
const observed = (): PlanState => ({
  ...workload(2, { p95: 40, rps: 100 }),
  target: { kind: 'Deployment', namespace: 'shop', name: 'web', generation: 7 },
});

/** An actuator that records the states it is given and fails perform as told. */
class Recorder implements Actuator {
  readonly name = 'recorder';
  readonly group = 'test';
  readonly seen: { method: string; target: PlanState['target'] }[] = [];
  failWith: Error | undefined;

  nextState(state: PlanState) {
    this.seen.push({ method: 'NextState', target: state.target });
    return [{ state, utility: 1, action: { name: this.name, properties: {} } }];
  }
  async perform(state: PlanState, _plan: readonly Action[]) {
    this.seen.push({ method: 'Perform', target: state.target });
    if (this.failWith) throw this.failWith;
  }
  async effect(state: PlanState) {
    this.seen.push({ method: 'Effect', target: state.target });
  }
}

async function served(t: { after(fn: () => unknown): void }) {
  const manager = await PluginManager.start({ port: 0, host: '127.0.0.1', connectTimeoutMs: 1000 });
  t.after(() => manager.close());
  const events: PluginEvent[] = [];
  manager.onEvent((e) => events.push(e));
  const actuator = new Recorder();
  const plugin = await servePlugin(actuator, {
    manager: `127.0.0.1:${manager.port}`,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => plugin.kill());
  return { manager, events, actuator, plugin, remote: manager.actuators()[0]! };
}

test('the observed generation survives the wire both ways; none given reads as none', () => {
  assert.deepEqual(stateFromWire(stateToWire(observed())), observed());
  const none = workload(2, { p95: 40 });
  assert.equal(stateToWire(none).target!.generation, 0);
  // 0 is what a peer built before the field sends: no generation, not generation 0.
  const decoded = stateFromWire(stateToWire(none));
  assert.deepEqual(decoded.target, { kind: 'Deployment', namespace: 'shop', name: 'web' });
  assert.throws(
    () => stateFromWire({ ...stateToWire(none), target: { ...stateToWire(none).target!, generation: -1 } }),
    /state\.target\.generation: must be a whole number ≥ 0, got -1/,
  );
});

test('a plugin is given the observed generation, and a perform refused for a changed workload comes back as WorkloadChangedError', async (t) => {
  const { manager, events, actuator, remote } = await served(t);

  const candidates = await remote.nextState(observed(), p95Goal(12), 1);
  assert.equal(candidates[0]!.state.target.generation, 7, 'a candidate keeps the generation');
  await remote.perform(observed(), []);
  await remote.effect(observed(), p95Goal(12));
  assert.deepEqual(
    actuator.seen.map((s) => [s.method, s.target.generation]),
    [
      ['NextState', 7],
      ['Perform', 7],
      ['Effect', 7],
    ],
  );

  actuator.failWith = new WorkloadChangedError(
    'Deployment shop/web changed since it was observed (generation 7, now 8)',
  );
  const refused = await remote.perform(observed(), []).then(
    () => assert.fail('perform succeeded'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof WorkloadChangedError, `got ${String(refused)}`);
  assert.match(
    refused.message,
    /^plugin "recorder" \(127\.0\.0\.1:\d+\) did not act: Deployment shop\/web changed since it was observed \(generation 7, now 8\)$/,
  );
  // Refusing is the plugin doing its job: nothing is reported against it, and it stays.
  assert.deepEqual(
    events.map((e) => e.type),
    ['registered'],
  );
  assert.equal(manager.plugins().length, 1);

  // Any other failure is the plugin's fault, as before.
  actuator.failWith = new Error('quota exceeded');
  await assert.rejects(
    remote.perform(observed(), []),
    (err: unknown) =>
      err instanceof PluginCallError && /Perform: INTERNAL: quota exceeded$/.test((err as Error).message),
  );
});

test('a planner built before generations (its state has none) reaches a plugin, which is given none', async (t) => {
  const { actuator, plugin } = await served(t);
  await performBeforeGeneration(t, `127.0.0.1:${plugin.port}`, observed(), []);
  assert.deepEqual(actuator.seen, [
    { method: 'Perform', target: { kind: 'Deployment', namespace: 'shop', name: 'web' } },
  ]);
});
