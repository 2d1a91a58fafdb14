import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import {
  DEFAULT_QUERIES,
  type KpiProfile,
  KpiProfiles,
} from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { Deployments, Pods } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { updateStatus } from '../../../src/runtime/objects.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import {
  createWorkload,
  intent,
  intentStatuses,
  racedPlanner,
  replanned,
  simulatedWorkload,
  startPlanner,
  waitForCondition,
  webP95,
} from './support.js';

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

test('a Deployment scaled by someone else while a plan is carried out is not scaled back: the plan is dropped and made again', async (t) => {
  // 35 ms against 15 ms on one replica: the planner scales out, one replica at a time at first.
  const { client, ns } = await simulatedWorkload(t, 'planner-raced', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const { statuses } = await racedPlanner(t, client, ns, { actuators: ['scale_out'] });

  // The plan made for one replica: 2. Later plans start from 6 and never propose 2.
  const raced = await waitFor(
    () => statuses.find((i) => i.status?.lastPlan?.actions[0]?.properties?.['replicas'] === 2),
    { description: 'the plan for one replica to be reported', timeoutMs: 90_000 },
  );
  assert.equal(raced.status!.lastPlan!.carriedOut, false);
  assert.match(
    raced.status!.lastPlan!.message!,
    new RegExp(`^not carried out: Deployment ${ns}/web changed since it was observed \\(generation 1, now 2`),
  );
  assert.ok(
    (await client.get(Deployments, 'web', ns)).spec!.replicas! >= 6,
    "the operator's 6 replicas were not scaled back to 2",
  );
  // Not a fault: the intent is not Degraded, and the next round plans from 6 replicas.
  await replanned(client, ns);
  assert.ok((await client.get(Deployments, 'web', ns)).spec!.replicas! >= 6);
});

/**
 * `web-p95` on one replica at 35 ms against 15 ms: the first plan scales out, from the prior
 * alone. Resolves once it was carried out and the planner that made it stopped.
 */
async function plannedThenStopped(t: TestContext, prefix: string, planCacheTtl: number) {
  const { client, ns } = await simulatedWorkload(t, prefix, {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const config = {
    controller: { controller_timeout: 1, plan_cache_ttl: planCacheTtl, plan_cache_timeout: 20_000 },
  };
  const first = await startPlanner(t, ns, { config, actuators: ['scale_out'] });
  await client.create(webP95(ns));
  const planned = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (i.status?.lastPlan?.carriedOut) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'a plan to be carried out', timeoutMs: 90_000, intervalMs: 250 },
  );
  await first.mgr.stop();
  return { client, ns, config, planned };
}

test('a planner restarted while its last plan settles lets it settle instead of planning on top of it', async (t) => {
  const { client, ns, config, planned } = await plannedThenStopped(t, 'planner-restart', 120_000);
  const replicas = (await client.get(Deployments, 'web', ns)).spec!.replicas;
  assert.ok(replicas! > 1, 'scaled out');
  // Forget the observed values, so that the next planner's first round shows in the status.
  await updateStatus(client, Intents, 'web-p95', ns, (cur) => {
    cur.status = { ...cur.status, objectives: [] };
    return true;
  });

  await startPlanner(t, ns, { config, actuators: ['scale_out'] });
  const after = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (i.status?.objectives?.length) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the restarted planner to run a round', timeoutMs: 60_000, intervalMs: 250 },
  );
  const planning = findCondition(after.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['True', 'Settling'], planning.message);
  assert.deepEqual(after.status!.lastPlan, planned.status!.lastPlan, 'no new plan');
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, replicas, 'not scaled again');
});

test('a KPIProfile edited while no planner ran ends the wait of the last plan once one starts', async (t) => {
  // The plan would settle for 10 minutes.
  const { client, ns, config, planned } = await plannedThenStopped(t, 'planner-down-edit', 600_000);
  assert.equal(
    planned.status!.lastPlan!.kpiProfiles,
    `${ns}/p95latency@1`,
    'the plan names what measured it',
  );
  await client.patch(KpiProfiles, 'p95latency', ns, {
    spec: { query: DEFAULT_QUERIES['default/p99latency']!.query },
  });

  // Without the edit the restarted planner would let the plan settle for 10 minutes.
  await startPlanner(t, ns, { config, actuators: ['scale_out'] });
  const replanned = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (i.status?.lastPlan?.kpiProfiles === `${ns}/p95latency@2`) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    {
      description: 'the restarted planner to plan on the edited profile',
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  );
  assert.notEqual(replanned.status!.lastPlan!.time, planned.status!.lastPlan!.time, 'a new plan');
});

test('a KPIProfile edited while the last plan settles ends the wait: the intent is planned on what it now measures', async (t) => {
  // 35 ms against 15 ms on one replica: the first round scales out, then settles for 10 minutes.
  const { client, ns } = await simulatedWorkload(t, 'planner-profile-edit', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const config = {
    controller: { controller_timeout: 1, plan_cache_ttl: 600_000, plan_cache_timeout: 20_000 },
  };
  await startPlanner(t, ns, { config, actuators: ['scale_out'] });
  await client.create(webP95(ns));
  const settled = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (findCondition(i.status?.conditions, 'Planning')?.reason === 'Settling') return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the first plan to settle', timeoutMs: 90_000, intervalMs: 250 },
  );

  // Every status written from now on.
  const statuses = await intentStatuses(t, client, ns, settled.metadata!.resourceVersion!);
  // The objective is now measured at the 99th percentile: the plan made for the 95th is no
  // longer the one to wait for.
  await client.patch(KpiProfiles, 'p95latency', ns, {
    spec: { query: DEFAULT_QUERIES['default/p99latency']!.query },
  });
  const replanned = await waitFor(
    () => statuses.find((i) => findCondition(i.status?.conditions, 'Planning')?.reason !== 'Settling'),
    { description: 'a round that plans again after the profile changed', timeoutMs: 30_000 },
  );
  assert.notEqual(findCondition(replanned.status?.conditions, 'Degraded')?.status, 'True');
});

test('a pod still starting during a rollout is not removed to raise availability: the rollout goes on', async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-starting');
  await createWorkload(client, ns, 'web', 2, '500m');
  const isReady = (p: { status?: { conditions?: { type: string; status: string }[] } }) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const pods = async () =>
    (await client.list(Pods, { namespace: ns, labelSelector: 'app=web' })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
  await waitFor(async () => (await pods()).filter(isReady).length === 2, {
    description: '2 ready pods of web',
    timeoutMs: 60_000,
  });
  // A new version whose pods take 10 minutes to become ready (the simulated node holds them
  // back): the rollout surges one new pod, not Ready for a long while, and keeps the old two.
  await client.patch(Deployments, 'web', ns, {
    spec: { template: { metadata: { annotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': '10m' } } } },
  });
  const starting = await waitFor(
    async () => {
      const all = await pods();
      const fresh = all.filter((p) => !isReady(p));
      return all.length === 3 && fresh.length === 1 ? fresh[0] : undefined;
    },
    { description: 'the rollout to start one new pod', timeoutMs: 60_000 },
  );
  await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'availability', namespace: ns },
    spec: { type: 'availability', minimize: false },
  });
  // Two ready pods of three: availability 0.67, short of 0.9.
  await startPlanner(t, ns, { actuators: ['rm_pod'] });
  await client.create(
    intent(ns, 'web-up', 'web', [{ name: 'up', value: 0.9, measuredBy: `${ns}/availability` }]),
  );

  const planned = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-up', ns);
      if (findCondition(i.status?.conditions, 'Planning') && i.status?.objectives?.[0]?.current !== undefined)
        return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the intent to be planned', timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.equal(planned.status!.objectives![0]!.current, 0.666667, 'the starting pod is not available yet');
  assert.equal(findCondition(planned.status?.conditions, 'Fulfilled')!.status, 'False');
  const planning = findCondition(planned.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['False', 'NoPlan'], planning.message);
  assert.equal(
    planned.status!.lastPlan,
    undefined,
    `no pod removed: ${JSON.stringify(planned.status!.lastPlan)}`,
  );
  const still = (await pods()).find((p) => p.metadata!.uid === starting.metadata!.uid);
  assert.ok(still, `the starting pod ${starting.metadata!.name} is still there`);
});

test('a plan removing two pods whose second recovered meanwhile: the first removal is reported as carried out, and settles', async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-rm-two');
  await createWorkload(client, ns, 'web', 3, '500m');
  const live = async () =>
    (await client.list(Pods, { namespace: ns, labelSelector: 'app=web' })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
  const isReady = (p: { status?: { conditions?: { type: string; status: string }[] } }) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const pods = await waitFor(
    async () => {
      const all = await live();
      return all.length === 3 && all.every(isReady) ? all : undefined;
    },
    { description: '3 ready pods of web', timeoutMs: 60_000 },
  );
  // As the kubelet reports a pod whose readiness probe fails, long after it started, and one
  // that passes again.
  const setReady = (name: string, ready: boolean) => {
    const status = ready ? 'True' : 'False';
    const startedAt = new Date(Date.now() - 3_600_000).toISOString();
    return client.patch(
      Pods,
      name,
      ns,
      {
        status: {
          conditions: [
            { type: 'Ready', status },
            { type: 'ContainersReady', status },
          ],
          containerStatuses: ['sidecar', 'app'].map((c) => ({
            name: c,
            ready,
            restartCount: 0,
            state: { running: { startedAt } },
          })),
        },
      },
      'strategic',
      'status',
    );
  };
  const [a, b] = pods.map((p) => p.metadata!.name!);
  await setReady(a!, false);
  await setReady(b!, false);
  await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'availability', namespace: ns },
    spec: { type: 'availability', minimize: false },
  });
  // Between planning and acting, the pod the plan removes second passes its probe again.
  let recovered: string | undefined;
  await startPlanner(t, ns, {
    actuators: ['rm_pod'],
    beforePerform: async (plan) => {
      if (recovered) return;
      recovered = String(plan.at(-1)!.properties['name']);
      await setReady(recovered, true);
    },
  });
  const statuses = await intentStatuses(t, client, ns);
  await client.create(
    intent(ns, 'web-up', 'web', [{ name: 'up', value: 0.9, measuredBy: `${ns}/availability` }]),
  );

  const acted = await waitFor(() => statuses.find((i) => i.status?.lastPlan), {
    description: 'the plan to be reported',
    timeoutMs: 30_000,
  });
  const plan = acted.status!.lastPlan!;
  assert.deepEqual(
    plan.actions.map((x) => x.name),
    ['rm_pod', 'rm_pod'],
  );
  const [first, second] = plan.actions.map((x) => String(x.properties!['name']));
  assert.equal(second, recovered);
  assert.equal(plan.carriedOut, false);
  assert.match(
    plan.message!,
    new RegExp(
      `^partly carried out: rm_pod\\(name=${first}\\) took effect; rm_pod\\(name=${second}\\) failed: pod ${ns}/${second} recovered since it was observed`,
    ),
  );
  const planning = findCondition(acted.status?.conditions, 'Planning')!;
  assert.deepEqual(
    [planning.status, planning.reason, planning.message],
    ['False', 'WorkloadChanged', plan.message],
  );
  assert.notEqual(findCondition(acted.status?.conditions, 'Degraded')?.status, 'True', 'not a fault');
  // The removal that took effect settles before the workload is judged again.
  const settling = await waitFor(
    () =>
      statuses
        .slice(statuses.indexOf(acted))
        .find((i) => findCondition(i.status?.conditions, 'Planning')?.reason === 'Settling'),
    { description: 'the removal that took effect to settle', timeoutMs: 30_000 },
  );
  assert.match(
    findCondition(settling.status?.conditions, 'Planning')!.message!,
    /the part of the last plan that took effect/,
  );
  assert.deepEqual(settling.status!.lastPlan, plan);
  const names = (await live()).map((p) => p.metadata!.name);
  assert.ok(!names.includes(first) && names.includes(second!), `pods now: ${names.join(', ')}`);
});

test('an intent with no latency objective is not shrunk to save resources: nothing predicts what less capacity would cost', async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-no-latency');
  await createWorkload(client, ns, 'web', 4, '2');
  await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'availability', namespace: ns },
    spec: { type: 'availability', minimize: false },
  });
  await waitFor(async () => ((await client.get(Deployments, 'web', ns)).status?.readyReplicas ?? 0) === 4, {
    description: '4 ready replicas of web',
    timeoutMs: 60_000,
  });
  await startPlanner(t, ns);
  await client.create(
    intent(ns, 'web-up', 'web', [{ name: 'up', value: 0.5, measuredBy: `${ns}/availability` }]),
  );

  const planned = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-up', ns);
      if (findCondition(i.status?.conditions, 'Planning')) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the intent to be planned', timeoutMs: 30_000, intervalMs: 250 },
  );
  const planning = findCondition(planned.status?.conditions, 'Planning')!;
  assert.deepEqual(
    [planning.status, planning.reason, planned.status!.lastPlan?.actions],
    ['False', 'GoalReached', undefined],
    planning.message,
  );
  const web = await client.get(Deployments, 'web', ns);
  assert.equal(web.spec!.replicas, 4);
  assert.equal(web.spec!.template!.spec!.containers[1]!.resources!.requests!['cpu'], '2');
});
