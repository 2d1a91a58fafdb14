import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { PluginManager } from '../../../src/planner/plugins/manager.js';
import { ScaleOutByTwoActuator } from '../../../src/planner/plugins/scale-by-two.js';
import { servePlugin } from '../../../src/planner/plugins/serve.js';
import { WorkloadUpdater } from '../../../src/planner/workload.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { p95Goal, workload } from '../../unit/planner/support.js';

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
