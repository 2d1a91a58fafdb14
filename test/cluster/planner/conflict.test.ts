import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { DEFAULT_QUERIES, type KpiProfile } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { intent, intentStatuses, simulatedWorkload, startPlanner } from './support.js';

// At 200 req/s one replica of 500m answers in 42 ms, six in 9 ms. "p95 ≤ 10 ms" and a floor of
// "p95 ≥ 30 ms" (a profile that does not minimize: don't over-provision) cannot both hold: once
// they are both broken, one plans more replicas and the other fewer. The higher priority's runs.
test('two intents on one workload with conflicting plans: Conflict on both, the higher priority wins, and both keep saying so while its plan settles', async (t) => {
  const { client, ns, prometheus, sim } = await simulatedWorkload(t, 'planner-conflict', {
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
  // Plans settle for 15 s: long enough to see what the rounds meanwhile say.
  await startPlanner(t, ns, {
    actuators: ['scale_out', 'scale_in'],
    config: { controller: { controller_timeout: 1, plan_cache_ttl: 15_000, plan_cache_timeout: 20_000 } },
  });
  const statuses = await intentStatuses(t, client, ns);

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

  // Rounds while the winner's plan settles refresh the values only: the winner says it settles,
  // the loser that it was overruled, and both that they conflict.
  await waitFor(
    () =>
      statuses.find(
        (i) =>
          i.metadata!.name === 'tight' &&
          findCondition(i.status?.conditions, 'Planning')?.reason === 'Settling',
      ),
    { description: 'the plan of "tight" to settle', timeoutMs: 30_000 },
  );
  // Less load, lower latency: the next rounds write new values, and with them what they say.
  const before = loose!.status!.objectives![0]!.current;
  const mark = statuses.length;
  sim.setLoad(100);
  const refreshed = await waitFor(
    () =>
      statuses
        .slice(mark)
        .find((i) => i.metadata!.name === 'loose' && i.status?.objectives?.[0]?.current !== before),
    { description: 'a round while the plan settles to write new values for "loose"', timeoutMs: 30_000 },
  );
  const now = await client.get(Intents, 'tight', ns);
  assert.deepEqual(
    [now, refreshed].map((i) =>
      ['Planning', 'Conflict'].map((c) => findCondition(i.status?.conditions, c)?.reason).join(' '),
    ),
    ['Settling ConflictingPlans', 'Overruled ConflictingPlans'],
  );
  assert.deepEqual(refreshed.status!.lastPlan, loose!.status!.lastPlan);
});

/**
 * A workload of four 500m replicas at 200 req/s with two intents, the planner started on it:
 * `blind`, "p95 ≤ 15 ms" measured by a Prometheus nothing listens on, so never observed, and
 * `roomy`, "p95 ≤ 50 ms", met with room to spare (about 10 ms), so that it would scale in.
 */
async function blindBesideRoomy(
  t: TestContext,
  prefix: string,
  blind: { name: string; priority?: number },
  roomy: { name: string; priority?: number },
) {
  const { client, ns } = await simulatedWorkload(t, prefix, {
    name: 'shop',
    replicas: 4,
    cpu: '500m',
    load: 200,
  });
  await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'p95elsewhere', namespace: ns },
    spec: {
      type: 'latency',
      query: DEFAULT_QUERIES['default/p95latency']!.query!,
      props: { endpoint: 'http://127.0.0.1:1/api/v1/query' },
    },
  });
  await client.create(
    intent(
      ns,
      blind.name,
      'shop',
      [{ name: 'p95', value: 15, measuredBy: `${ns}/p95elsewhere` }],
      blind.priority,
    ),
  );
  await client.create(
    intent(
      ns,
      roomy.name,
      'shop',
      [{ name: 'p95', value: 50, measuredBy: `${ns}/p95latency` }],
      roomy.priority,
    ),
  );
  await startPlanner(t, ns, { actuators: ['scale_out', 'scale_in'] });
  return { client, ns };
}

// At 200 req/s four replicas of 500m answer in about 10 ms. "p95 ≤ 50 ms" is met with room to
// spare, so its intent would scale in; another intent on the workload, whose profile's
// Prometheus cannot be reached, may need every replica: the workload is not scaled in blind.
test('an intent that cannot be observed keeps another intent on its workload from scaling it in', async (t) => {
  const { client, ns } = await blindBesideRoomy(
    t,
    'planner-blind',
    { name: 'tight', priority: 0.9 },
    { name: 'loose', priority: 0.1 },
  );

  const loose = await waitFor(
    async () => {
      const i = await client.get(Intents, 'loose', ns);
      const planning = findCondition(i.status?.conditions, 'Planning');
      if (planning && planning.reason !== 'NotObserved') return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the intent "loose" to be planned', timeoutMs: 90_000, intervalMs: 250 },
  );
  const planning = findCondition(loose.status?.conditions, 'Planning')!;
  assert.equal(findCondition(loose.status?.conditions, 'Fulfilled')?.status, 'True');
  assert.deepEqual([planning.status, planning.reason], ['False', 'Deferred'], planning.message);
  assert.match(planning.message!, new RegExp(`${ns}/tight could not be observed`));
  assert.equal(loose.status!.lastPlan?.carriedOut, false);
  assert.equal((await client.get(Deployments, 'shop', ns)).spec!.replicas, 4, 'nothing was scaled in');
  const tight = await client.get(Intents, 'tight', ns);
  assert.equal(findCondition(tight.status?.conditions, 'Degraded')?.reason, 'ObservationFailed');
});

// Intent "a" cannot be observed and leads the rounds on the workload (its key sorts first), so
// "b", fulfilled with room to spare, is deferred. Once "a" leaves the workload, "b" has to be
// planned on its own at once: nobody else will start its rounds.
for (const [how, change] of [
  ['made inactive', () => ({ spec: { active: false } })],
  ['retargeted', (ns: string) => ({ spec: { targetRef: { kind: 'Deployment', name: `${ns}/elsewhere` } } })],
] as const)
  test(`the intent leading a workload's rounds ${how}: the other intent on it is planned without it`, async (t) => {
    const { client, ns } = await blindBesideRoomy(t, 'planner-lead', { name: 'a' }, { name: 'b' });
    const planningOfB = async () =>
      findCondition((await client.get(Intents, 'b', ns)).status?.conditions, 'Planning');
    await waitFor(async () => (await planningOfB())?.reason === 'Deferred', {
      description: 'the intent "b" to be deferred while "a" cannot be observed',
      timeoutMs: 90_000,
      intervalMs: 250,
    });

    await client.patch(Intents, 'a', ns, change(ns));
    const planning = await waitFor(
      async () => {
        const c = await planningOfB();
        return c?.reason !== 'Deferred' && c;
      },
      {
        description: `the intent "b" to be planned without "a" once "a" is ${how}`,
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    assert.doesNotMatch(planning.message ?? '', new RegExp(`${ns}/a`), 'b is planned without a');
    assert.equal(
      findCondition((await client.get(Intents, 'b', ns)).status?.conditions, 'Fulfilled')?.status,
      'True',
    );
  });
