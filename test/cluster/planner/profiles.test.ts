import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { KpiProfile } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { createWorkload, intent, startPlanner, waitForCondition } from './support.js';

// Rounds an hour apart: anything seen within the test was started by an event, not the timer.
const EVENTS_ONLY = {
  controller: { plan_cache_ttl: 3000, plan_cache_timeout: 20000, controller_timeout: 3600 },
};

const availability = (name: string, namespace: string): KpiProfile => ({
  apiVersion: 'ido.intel.com/v1alpha1',
  kind: 'KPIProfile',
  metadata: { name, namespace },
  spec: { type: 'availability', minimize: false },
});

async function setUp(t: TestContext) {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-prof');
  await createWorkload(client, ns, 'web', 1, '500m');
  await startPlanner(t, ns, { config: EVENTS_ONLY, actuators: [] });
  return { client, ns };
}

test('a planner given one namespace finds a KPIProfile that measuredBy names in another', async (t) => {
  const { client, ns } = await setUp(t);
  const other = await testNamespace(t, client, 'planner-prof-other');
  await client.create(availability('avail', other));
  await client.create(intent(ns, 'web-up', 'web', [{ name: 'up', value: 0, measuredBy: `${other}/avail` }]));

  const observed = await waitForCondition(client, ns, 'web-up', 'Fulfilled', 'True', 30_000);
  assert.equal(findCondition(observed.status?.conditions, 'Degraded')!.status, 'False');
  assert.equal(typeof observed.status!.objectives![0]!.current, 'number');
});

test('a bare measuredBy is looked up in the intent namespace, named so, and its later creation is noticed', async (t) => {
  const { client, ns } = await setUp(t);
  await client.create(intent(ns, 'web-up', 'web', [{ name: 'up', value: 0, measuredBy: 'avail' }]));

  const missing = await waitForCondition(client, ns, 'web-up', 'Degraded', 'True', 30_000);
  const c = findCondition(missing.status?.conditions, 'Degraded')!;
  assert.equal(c.reason, 'ProfileNotFound');
  assert.equal(c.message, `up: KPIProfile ${ns}/avail not found`);

  // No timer round comes within the test: only the profile's event can start the next one.
  await client.create(availability('avail', ns));
  const found = await waitForCondition(client, ns, 'web-up', 'Degraded', 'False', 30_000);
  assert.equal(findCondition(found.status?.conditions, 'Fulfilled')!.status, 'True');
});
