import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { intent, simulatedWorkload, startPlanner, waitForCondition } from './support.js';

test('an objective that can never be met (a negative latency) is refused, not chased up to max_pods', async (t) => {
  // Overloaded: a reachable p95 bound would be planned for at once.
  const { client, ns } = await simulatedWorkload(t, 'planner-unmeetable', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const { traces } = await startPlanner(t, ns);
  await client.create(
    intent(ns, 'web-p95', 'web', [{ name: 'p95', value: -5, measuredBy: `${ns}/p95latency` }]),
  );

  const refused = await waitForCondition(client, ns, 'web-p95', 'Degraded', 'True');
  const degraded = findCondition(refused.status?.conditions, 'Degraded')!;
  assert.equal(degraded.reason, 'InvalidObjective');
  assert.match(degraded.message!, /^p95: value -5 is negative; a latency KPI never is/);
  const planning = findCondition(refused.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['False', 'InvalidObjective']);
  assert.equal(refused.status!.lastPlan, undefined, 'no plan was made');
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 1, 'nothing was scaled');
  assert.deepEqual(await traces.recentEvents(`${ns}/web-p95`, 10), [], 'no planning event');
});
