import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { DEFAULT_QUERIES, type KpiProfile } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { intent, simulatedWorkload, startPlanner } from './support.js';

// At 200 req/s one replica of 500m answers in 42 ms, six in 9 ms. "p95 ≤ 10 ms" and a floor of
// "p95 ≥ 30 ms" (a profile that does not minimize: don't over-provision) cannot both hold: once
// they are both broken, one plans more replicas and the other fewer. The higher priority's runs.
test('two intents on one workload with conflicting plans: Conflict on both, the higher priority wins', async (t) => {
  const { client, ns, prometheus } = await simulatedWorkload(t, 'planner-conflict', {
    name: 'shop',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'p95floor', namespace: ns },
    spec: {
      type: 'latency',
      minimize: false,
      query: DEFAULT_QUERIES['default/p95latency']!.query!,
      props: { endpoint: prometheus.queryUrl },
    },
  });
  // Both intents exist before the planner's first round, so that they are planned together.
  await client.create(
    intent(ns, 'tight', 'shop', [{ name: 'p95', value: 10, measuredBy: `${ns}/p95latency` }], 0.9),
  );
  await client.create(
    intent(ns, 'loose', 'shop', [{ name: 'p95', value: 30, measuredBy: `${ns}/p95floor` }], 0.1),
  );
  await startPlanner(t, ns, { actuators: ['scale_out', 'scale_in'] });

  const [tight, loose] = await waitFor(
    async () => {
      const both = await Promise.all(['tight', 'loose'].map((n) => client.get(Intents, n, ns)));
      if (both.every((i) => findCondition(i.status?.conditions, 'Conflict')?.status === 'True')) return both;
      throw new Error(`conditions now ${JSON.stringify(both.map((i) => i.status?.conditions ?? []))}`);
    },
    { description: 'Conflict on both intents', timeoutMs: 90_000, intervalMs: 200 },
  );
  assert.match(findCondition(tight!.status?.conditions, 'Conflict')!.message!, new RegExp(`${ns}/loose`));
  assert.match(findCondition(loose!.status?.conditions, 'Conflict')!.message!, new RegExp(`${ns}/tight`));
  assert.equal(tight!.status!.lastPlan!.carriedOut, true);
  assert.equal(loose!.status!.lastPlan!.carriedOut, false);
  assert.equal(findCondition(loose!.status?.conditions, 'Planning')!.reason, 'Overruled');
  const planned = tight!.status!.lastPlan!.actions.at(-1)!.properties!['replicas'];
  const lost = loose!.status!.lastPlan!.actions.at(-1)!.properties!['replicas'];
  assert.ok(Number(planned) > Number(lost), `tight plans ${planned} replicas, loose ${lost}`);
  assert.equal((await client.get(Deployments, 'shop', ns)).spec!.replicas, planned, "the winner's plan ran");
});
