import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { intent, simulatedWorkload, startPlanner, waitForCondition } from './support.js';

test('Prometheus down: the intent is Degraded with the reason and nothing is acted on', async (t) => {
  // Overloaded (35 ms against 15 ms) — but the planner cannot know it once Prometheus is gone.
  const { client, ns, prometheus } = await simulatedWorkload(t, 'planner-down', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
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
