import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { PluginManager } from '../../../src/planner/plugins/manager.js';
import { ScaleOutByTwoActuator } from '../../../src/planner/plugins/scale-by-two.js';
import { servePlugin } from '../../../src/planner/plugins/serve.js';
import type { PlanState } from '../../../src/planner/state.js';
import { WorkloadChangedError, WorkloadUpdater } from '../../../src/planner/workload.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { performBeforeGeneration } from '../../unit/planner/fixtures/plugin-before-generation.js';
import { workload } from '../../unit/planner/support.js';
import { createWorkload, racedPlanner, replanned, simulatedWorkload } from './support.js';

/** The sample plugin, served on loopback and registered with a manager of the test's own. */
async function samplePlugin(t: TestContext, client: KubeClient, maxPods: number) {
  const manager = await PluginManager.start({ port: 0, host: '127.0.0.1' });
  t.after(() => manager.close());
  const plugin = await servePlugin(new ScaleOutByTwoActuator(maxPods, new WorkloadUpdater(client)), {
    manager: `127.0.0.1:${manager.port}`,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => plugin.close());
  return { manager, plugin };
}

/** The planner's view of the Deployment `web` as it is now. */
async function observe(client: KubeClient, ns: string): Promise<PlanState> {
  const d = await client.get(Deployments, 'web', ns);
  return {
    ...workload(d.spec!.replicas!, {}),
    target: { kind: 'Deployment', namespace: ns, name: 'web', generation: d.metadata!.generation! },
  };
}

test('a Deployment scaled by someone else before a plugin carries out its plan is not scaled back: the plan is dropped and made again', async (t) => {
  // 35 ms against 15 ms on one replica: the plugin plans 1 → 2 → 4. With max 7 pods it offers
  // nothing from 6, so the other party's 6 replicas stay whatever later rounds find.
  const { client, ns } = await simulatedWorkload(t, 'plugin-raced', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const { manager } = await samplePlugin(t, client, 7);
  const { statuses } = await racedPlanner(t, client, ns, {
    actuators: [],
    plugins: () => manager.actuators(),
  });

  const raced = await waitFor(() => statuses.find((i) => i.status?.lastPlan), {
    description: 'the first plan to be reported',
    timeoutMs: 90_000,
  });
  assert.deepEqual(
    raced.status!.lastPlan!.actions.map((a) => [a.name, a.properties?.['replicas']]),
    [
      ['scale_out_by_two', 2],
      ['scale_out_by_two', 4],
    ],
  );
  assert.equal(raced.status!.lastPlan!.carriedOut, false);
  assert.match(
    raced.status!.lastPlan!.message!,
    new RegExp(
      `^not carried out: plugin "scale_out_by_two" \\(127\\.0\\.0\\.1:\\d+\\) did not act: Deployment ${ns}/web changed since it was observed \\(generation 1, now 2`,
    ),
  );
  const planning = findCondition(raced.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['False', 'WorkloadChanged']);
  assert.notEqual(findCondition(raced.status?.conditions, 'Degraded')?.status, 'True');
  assert.equal(
    (await client.get(Deployments, 'web', ns)).spec!.replicas,
    6,
    "the operator's 6 replicas stay",
  );

  // Not a fault: the intent is not Degraded, and the next round plans from 6 replicas.
  const again = await replanned(client, ns);
  assert.equal(again.status!.lastPlan!.carriedOut, false, 'nothing carried out since');
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 6);
});

test('a plugin performing after a built-in actuator of the same plan is not stopped by the built-in change', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'plugin-mixed');
  await createWorkload(client, ns, 'web', 1, '500m');
  const manager = await PluginManager.start({ port: 0, host: '127.0.0.1' });
  t.after(() => manager.close());
  // Its own process, as in a cluster: it knows nothing of the planner's own changes but what
  // the planner tells it.
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '../../../bin/tutti.js'),
      'planner',
      'sample-plugin',
      '--manager',
      `127.0.0.1:${manager.port}`,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--kubeconfig',
      testKubeconfig(),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  const [remote] = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`sample plugin exited: ${output}`);
      return manager.actuators().length === 1 && manager.actuators();
    },
    { description: 'the sample plugin process to register', timeoutMs: 60_000 },
  );

  // One plan: cpu_scale's part (through the planner's own updater) first, then the plugin's.
  const start = await observe(client, ns);
  await new WorkloadUpdater(client).setContainerCpu(start.target, 'app', 700, 700);
  await remote!.perform(start, [{ name: 'scale_out_by_two', properties: { replicas: 2 } }]);

  const d = await client.get(Deployments, 'web', ns);
  assert.equal(d.spec!.replicas, 2);
  const app = d.spec!.template!.spec!.containers.find((c) => c.name === 'app')!;
  assert.deepEqual(app.resources?.requests, { cpu: '700m' });
});

test('the sample plugin scales only the spec observed when given its generation, and unconditionally when not (a planner built before it)', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'plugin-old');
  await createWorkload(client, ns, 'web', 1, '500m');
  const { manager, plugin } = await samplePlugin(t, client, 16);
  const [remote] = manager.actuators();
  const start = await observe(client, ns);
  // Someone else scales it to 3 after it was observed.
  await client.patch(Deployments, 'web', ns, { spec: { replicas: 3 } });

  await assert.rejects(
    remote!.perform(start, [{ name: 'scale_out_by_two', properties: { replicas: 2 } }]),
    (err: unknown) => err instanceof WorkloadChangedError,
  );
  assert.equal(
    (await client.get(Deployments, 'web', ns)).spec!.replicas,
    3,
    'left as the other party set it',
  );

  // The same Perform from a client of the protocol as it was before generations: it acts.
  await performBeforeGeneration(t, `127.0.0.1:${plugin.port}`, start, [
    { name: 'scale_out_by_two', properties: { replicas: { number: 2 } } },
  ]);
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 2);
});
