import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { type KpiProfile, KpiProfiles } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
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

test('a live availability or throughput KPIProfile left at minimize: true is warned about in its status; latency is not', async (t) => {
  const { client, ns } = await setUp(t);
  const measured = { query: 'up', props: { endpoint: 'http://127.0.0.1:9090/api/v1/query' } };
  const create = (name: string, spec: KpiProfile['spec']) =>
    client.create<KpiProfile>({
      apiVersion: 'ido.intel.com/v1alpha1',
      kind: 'KPIProfile',
      metadata: { name, namespace: ns },
      spec,
    });
  await create('avail', { type: 'availability', minimize: true });
  await create('rps', { type: 'throughput', ...measured }); // minimize left out: the CRD defaults it to true
  await create('p95', { type: 'latency', minimize: true, ...measured });
  await create('rps-down', { type: 'throughput', minimize: false, ...measured });

  const status = (name: string) =>
    waitFor(
      async () => {
        const p = await client.get(KpiProfiles, name, ns);
        return p.status?.resolved === undefined ? undefined : p.status;
      },
      { description: `KPIProfile ${ns}/${name} to have a status`, timeoutMs: 30_000 },
    );
  const upperBounds = (type: string, article: string) =>
    `minimize is true (the default) for ${article} ${type} KPI: objectives on it are upper bounds (want ≤ value); set minimize: false for a lower bound`;
  assert.deepEqual(await status('avail'), { resolved: true, reason: upperBounds('availability', 'an') });
  assert.deepEqual(await status('rps'), { resolved: true, reason: upperBounds('throughput', 'a') });
  assert.equal((await client.get(KpiProfiles, 'rps', ns)).spec.minimize, true);
  assert.deepEqual(await status('p95'), { resolved: true, reason: '' });
  assert.deepEqual(await status('rps-down'), { resolved: true, reason: '' });

  // Set right, the warning goes.
  await client.patch(KpiProfiles, 'avail', ns, { spec: { minimize: false } });
  await waitFor(async () => (await client.get(KpiProfiles, 'avail', ns)).status?.reason === '', {
    description: 'the warning to leave avail once minimize is false',
    timeoutMs: 30_000,
  });
});
