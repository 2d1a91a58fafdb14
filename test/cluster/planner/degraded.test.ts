import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plannerCrds } from '../../../src/planner/crds.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import {
  createProfiles,
  createWorkload,
  intent,
  simulate,
  startPlanner,
  waitForCondition,
} from './support.js';

test('Prometheus down: the intent is Degraded with the reason and nothing is acted on', async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-down');
  await createWorkload(client, ns, 'web', 1, '500m');
  // Overloaded (35 ms against 15 ms) — but the planner cannot know it once Prometheus is gone.
  const { prometheus } = await simulate(t, client, ns, 'web', 200);
  await createProfiles(client, ns, prometheus.queryUrl);
  await prometheus.stop();
  const { traces } = await startPlanner(t, ns);
  await client.create(
    intent(ns, 'web-p95', 'web', [
      { name: 'p95', value: 15, measuredBy: `${ns}/p95latency` },
      { name: 'up', value: 0.99, measuredBy: `${ns}/availability` },
    ]),
  );

  const degraded = await waitForCondition(client, ns, 'web-p95', 'Degraded', 'True');
  const c = findCondition(degraded.status?.conditions, 'Degraded')!;
  assert.equal(c.reason, 'ObservationFailed');
  assert.match(c.message!, /p95: .*127\.0\.0\.1.* is unreachable: ECONNREFUSED/);
  assert.equal(findCondition(degraded.status?.conditions, 'Fulfilled')!.status, 'Unknown');
  assert.equal(findCondition(degraded.status?.conditions, 'Planning')!.reason, 'NotObserved');
  // What could be observed is still reported; what could not is absent, not a default.
  assert.deepEqual(
    degraded.status!.objectives!.map((o) => [o.name, o.current]),
    [
      ['p95', undefined],
      ['up', degraded.status!.objectives![1]!.current],
    ],
  );
  assert.equal(degraded.status!.lastPlan, undefined, 'no plan was made');
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 1, 'nothing was scaled');
  assert.deepEqual(await traces.recentEvents(`${ns}/web-p95`, 10), [], 'no planning event');
});
