import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import type { Actuator } from '../../../src/planner/actuator.js';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { PluginManager } from '../../../src/planner/plugins/manager.js';
import { ScaleOutByTwoActuator } from '../../../src/planner/plugins/scale-by-two.js';
import { servePlugin } from '../../../src/planner/plugins/serve.js';
import { WorkloadUpdater } from '../../../src/planner/workload.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { p95Goal, workload } from '../../unit/planner/support.js';
import { intentStatuses, simulatedWorkload, startPlanner, webP95 } from './support.js';

test('a plan made of a plugin’s candidates is carried out by the plugin on the workload', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'plugin');
  await client.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'registry.example/web:1' }] },
      },
    },
  });

  const manager = await PluginManager.start({ port: 0, host: '127.0.0.1' });
  t.after(() => manager.close());
  const plugin = await servePlugin(new ScaleOutByTwoActuator(16, new WorkloadUpdater(client)), {
    manager: `127.0.0.1:${manager.port}`,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => plugin.close());

  const start = {
    ...workload(1, { p95: 40, rps: 100 }),
    target: { kind: 'Deployment' as const, namespace: ns, name: 'web' },
  };
  const planner = new AStarPlanner({ maxStates: 2000, maxCandidates: 10, opportunisticCandidates: 0 });
  const plan = await planner.plan(start, p95Goal(12), manager.actuators(), 0.5);
  assert.deepEqual(
    plan.actions.map((a) => a.properties['replicas']),
    [2, 4],
  );
  for (const actuator of manager.actuators()) await actuator.perform(start, plan.actions);

  const deployment = await client.get(Deployments, 'web', ns);
  assert.equal(deployment.spec?.replicas, 4);
});

/**
 * A workload that scale_out plans more replicas for (35 ms against 15 ms on one replica), a plugin
 * manager without health probes, so that the NextState deadline is what drops a hung plugin
 * mid-search, and `serve` to register a plugin with it. `released` resolves at the end, freeing
 * plugins that wait on it.
 */
async function pluginRound(t: TestContext, prefix: string) {
  const { client, ns } = await simulatedWorkload(t, prefix, {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const manager = await PluginManager.start({
    port: 0,
    host: '127.0.0.1',
    nextStateTimeoutMs: 300,
    healthIntervalMs: 3_600_000,
  });
  t.after(() => manager.close());
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const serve = async (actuator: Actuator) => {
    const plugin = await servePlugin(actuator, {
      manager: `127.0.0.1:${manager.port}`,
      port: 0,
      host: '127.0.0.1',
      advertise: '127.0.0.1',
    });
    t.after(async () => {
      release();
      await plugin.close();
    });
  };
  return { client, ns, manager, released, serve };
}

test('only the actuators with actions in a plan carry it out: a plugin dropped during the search, or offering nothing, does not fail a plan the built-in actuators carried out', async (t) => {
  // The plugins offer nothing.
  const { client, ns, manager, released, serve } = await pluginRound(t, 'plugin-bystander');
  const performed: string[] = [];
  const bystander = (name: string, hangs: boolean): Actuator => ({
    name,
    group: 'test',
    async nextState() {
      if (hangs) await released;
      return [];
    },
    async perform() {
      performed.push(name);
    },
    async effect() {},
  });
  await serve(bystander('hung', true));
  await serve(bystander('idle', false));
  await startPlanner(t, ns, { actuators: ['scale_out'], plugins: () => manager.actuators() });
  await client.create(webP95(ns));

  const planned = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (i.status?.lastPlan) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'a plan to be reported', timeoutMs: 90_000, intervalMs: 250 },
  );
  assert.deepEqual(
    manager.plugins().map((p) => p.name),
    ['idle'],
    'the hung plugin was dropped',
  );
  const plan = planned.status!.lastPlan!;
  assert.deepEqual([...new Set(plan.actions.map((a) => a.name))], ['scale_out']);
  assert.equal(plan.carriedOut, true, plan.message);
  const planning = findCondition(planned.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['True', 'PlanCarriedOut'], planning.message);
  assert.equal(findCondition(planned.status?.conditions, 'Degraded')?.status, 'False');
  assert.ok((await client.get(Deployments, 'web', ns)).spec!.replicas! > 1, 'scaled out');
  assert.deepEqual(performed, [], 'no plugin was sent Perform');
});

test('a plan whose replicas a plugin sets before a built-in actuator sets them again ends with the replicas the plan predicts', async (t) => {
  // 35 ms against 15 ms on one replica: three are needed. The plugin doubles to 2 (cheaper than
  // scale_out's step to 2), then scale_out adds the third; the plugin cannot offer 4 (max 3).
  const { client, ns } = await simulatedWorkload(t, 'plugin-mixed-scaling', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const manager = await PluginManager.start({ port: 0, host: '127.0.0.1' });
  t.after(() => manager.close());
  const plugin = await servePlugin(new ScaleOutByTwoActuator(3, new WorkloadUpdater(client)), {
    manager: `127.0.0.1:${manager.port}`,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => plugin.close());
  await startPlanner(t, ns, {
    actuators: ['scale_out'],
    plugins: () => manager.actuators(),
    config: {
      controller: { controller_timeout: 1, plan_cache_ttl: 30_000, plan_cache_timeout: 20_000 },
      actuators: { scale_out: { max_pods: 3 } },
    },
  });
  const statuses = await intentStatuses(t, client, ns);
  await client.create(webP95(ns));

  const planned = await waitFor(() => statuses.find((i) => i.status?.lastPlan), {
    description: 'a plan to be reported',
    timeoutMs: 90_000,
  });
  const plan = planned.status!.lastPlan!;
  assert.deepEqual(
    plan.actions.map((a) => [a.name, a.properties?.['replicas']]),
    [
      ['scale_out_by_two', 2],
      ['scale_out', 3],
    ],
  );
  assert.equal(plan.carriedOut, true, plan.message);
  assert.equal(
    (await client.get(Deployments, 'web', ns)).spec!.replicas,
    3,
    'the replicas the plan predicts',
  );
});

test('a plugin gone during a round is not asked to refit its model, and one whose refit fails is warned of once until it refits again', async (t) => {
  // Every round that plans asks for refits.
  const { client, ns, manager, released, serve } = await pluginRound(t, 'plugin-refit');
  let refitFails = true;
  const refits = { hung: 0, flaky: 0 };
  const plugin = (name: 'hung' | 'flaky'): Actuator => ({
    name,
    group: 'test',
    async nextState() {
      if (name === 'hung') await released;
      return [];
    },
    async perform() {},
    async effect() {
      refits[name]++;
      if (name === 'flaky' && refitFails) throw new Error('no model to refit');
    },
  });
  await serve(plugin('hung'));
  await serve(plugin('flaky'));
  const lines: string[] = [];
  await startPlanner(t, ns, {
    actuators: ['scale_out'],
    plugins: () => manager.actuators(),
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
  });
  const logged = (msg: string) =>
    lines.map((l) => JSON.parse(l) as { msg: string; actuator?: string }).filter((l) => l.msg === msg);
  await client.create(webP95(ns));

  // Several rounds ask the flaky plugin to refit, and each fails.
  await waitFor(() => refits.flaky >= 3 || undefined, {
    description: 'three failed refits',
    timeoutMs: 90_000,
  });
  assert.deepEqual(
    manager.plugins().map((p) => p.name),
    ['flaky'],
    'the hung plugin was dropped',
  );
  const failed = logged('refitting the model failed');
  assert.deepEqual(
    failed.map((l) => l.actuator),
    ['flaky'],
    `one warning, none for the plugin gone: ${lines.join('')}`,
  );
  assert.equal(refits.hung, 0, 'the plugin gone was not asked to refit');

  // Once it refits again, that is said, and a later failure is warned of anew.
  refitFails = false;
  await waitFor(() => logged('refitting the model works again').length > 0 || undefined, {
    description: 'the refit to succeed again',
    timeoutMs: 30_000,
  });
  refitFails = true;
  await waitFor(() => logged('refitting the model failed').length === 2 || undefined, {
    description: 'a warning for the new failure',
    timeoutMs: 30_000,
  });
  assert.deepEqual(
    logged('refitting the model failed').map((l) => l.actuator),
    ['flaky', 'flaky'],
  );
});
