import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { intent, simulatedWorkload, startPlanner } from './support.js';

// At 200 req/s one replica of 600m answers in 35 ms: "p95 ≤ 10 ms" plans 4 replicas and
// "p95 ≤ 30 ms" plans 2. Both cannot be carried out; the higher priority's plan runs.
test('two intents on one workload with conflicting plans: Conflict on both, the higher priority wins', async (t) => {
  const { client, ns } = await simulatedWorkload(t, 'planner-conflict', {
    name: 'shop',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  // Both intents exist before the planner's first round, so that they are planned together.
  await client.create(
    intent(ns, 'tight', 'shop', [{ name: 'p95', value: 10, measuredBy: `${ns}/p95latency` }], 0.9),
  );
  await client.create(
    intent(ns, 'loose', 'shop', [{ name: 'p95', value: 30, measuredBy: `${ns}/p95latency` }], 0.1),
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
