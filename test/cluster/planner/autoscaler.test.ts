import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { HorizontalPodAutoscaler } from 'kubernetes-types/autoscaling/v2.js';
import { pino } from 'pino';
import { type Intent, Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { AutoscalerFinder, HorizontalPodAutoscalers } from '../../../src/planner/autoscaler.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments, ReplicaSets } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { waitFor } from '../../../src/runtime/wait.js';
import {
  asPlannerServiceAccount,
  intentStatuses,
  simulatedWorkload,
  startPlanner,
  webP95,
} from './support.js';

/**
 * `web`, one replica of 500m at 35 ms against the intent's 15 ms (without the HPA, the first round
 * scales it out), and an autoscaling/v2 HPA on it. No metrics server runs here, so the HPA
 * controller never changes the replicas itself: whatever moves them is the planner.
 */
async function autoscaledWeb(t: TestContext, prefix: string): Promise<{ client: KubeClient; ns: string }> {
  const { client, ns } = await simulatedWorkload(t, prefix, {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  await client.create<HorizontalPodAutoscaler>({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: ns },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
        },
      ],
    },
  });
  return { client, ns };
}

function waitForIntent(
  client: KubeClient,
  ns: string,
  description: string,
  pred: (i: Intent) => boolean,
): Promise<Intent> {
  return waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (pred(i)) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description, timeoutMs: 90_000, intervalMs: 250 },
  );
}

const planning = (i: Intent) => findCondition(i.status?.conditions, 'Planning');

test('a workload an HPA scales: the planner does not scale it, says so naming the HPA, and scales once the HPA is gone', async (t) => {
  const { client, ns } = await autoscaledWeb(t, 'planner-hpa');
  await startPlanner(t, ns, { actuators: ['scale_out'] });
  await client.create(webP95(ns));

  const held = await waitForIntent(
    client,
    ns,
    'the intent to say the HPA holds the replicas',
    (i) => planning(i)?.reason === 'ManagedByHPA',
  );
  assert.equal(planning(held)!.status, 'False');
  assert.match(planning(held)!.message!, new RegExp(`HorizontalPodAutoscaler ${ns}/web sets the replicas`));
  assert.equal(findCondition(held.status?.conditions, 'Fulfilled')!.status, 'False');
  assert.equal(held.status!.lastPlan, undefined, 'no plan was made');
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 1, 'nothing was scaled');

  // Without the HPA, the replicas are the planner's again.
  await client.delete(HorizontalPodAutoscalers, 'web', ns);
  await waitFor(async () => (await client.get(Deployments, 'web', ns)).spec!.replicas! > 1, {
    description: 'the planner to scale web out once the HPA is gone',
    timeoutMs: 60_000,
    intervalMs: 250,
  });
});

test("an intent on a Deployment's ReplicaSet: the HPA on the Deployment is found as the one that sets its replicas", async (t) => {
  const { client, ns } = await autoscaledWeb(t, 'planner-hpa-rs');
  const rs = await waitFor(async () => (await client.list(ReplicaSets, { namespace: ns })).items[0], {
    description: "web's ReplicaSet",
    timeoutMs: 30_000,
  });
  const finder = new AutoscalerFinder(client, pino({ level: 'silent' }));
  const name = rs.metadata!.name!;
  assert.equal(await finder.managing({ kind: 'ReplicaSet', namespace: ns, name }), `${ns}/web`);
  assert.equal(await finder.managing({ kind: 'Deployment', namespace: ns, name: 'web' }), `${ns}/web`);
  // A ReplicaSet of its own (no Deployment owns it) is not the HPA's.
  assert.equal(await finder.managing({ kind: 'ReplicaSet', namespace: ns, name: 'standalone' }), undefined);
});

test('a workload an HPA scales: its CPU is still planned, and the status names the HPA', async (t) => {
  const { client, ns } = await autoscaledWeb(t, 'planner-hpa-cpu');
  await startPlanner(t, ns, { actuators: ['scale_out', 'cpu_scale'] });
  // Every status the intent takes: the round that acted is followed by Settling at once.
  const statuses = await intentStatuses(t, client, ns);
  await client.create(webP95(ns));

  const carried = await waitFor(() => statuses.find((i) => i.status?.lastPlan?.carriedOut === true), {
    description: 'a plan to be carried out',
    timeoutMs: 90_000,
  });
  assert.deepEqual([...new Set(carried.status!.lastPlan!.actions.map((a) => a.name))], ['cpu_scale']);
  assert.match(
    planning(carried)!.message!,
    new RegExp(`^cpu_scale\\(.*; replicas are left to HorizontalPodAutoscaler ${ns}/web$`),
  );
  const web = await client.get(Deployments, 'web', ns);
  assert.equal(web.spec!.replicas, 1, 'not scaled');
  assert.notEqual(web.spec!.template!.spec!.containers[1]!.resources!.requests!['cpu'], '500m', 'CPU raised');
});

test('a planner not allowed to list HPAs plans as before and warns once', async (t) => {
  const { client, ns } = await autoscaledWeb(t, 'planner-hpa-rbac');
  // The seed's ClusterRole as it was, without Tutti's rule for HPAs.
  const as = await asPlannerServiceAccount(
    t,
    client,
    ns,
    (r) => r.apiGroups?.includes('autoscaling') ?? false,
  );
  const lines: string[] = [];
  await startPlanner(t, ns, {
    as,
    actuators: ['scale_out'],
    logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }),
  });
  await client.create(webP95(ns));

  // Scaled out, and planned again after the plan settled (it holds: nothing more to do).
  const reached = await waitForIntent(
    client,
    ns,
    'the intent to be planned again after scaling out',
    (i) => i.status?.lastPlan?.carriedOut === true && planning(i)?.reason === 'GoalReached',
  );
  assert.equal(reached.status!.lastPlan!.actions.at(-1)!.name, 'scale_out');
  assert.ok((await client.get(Deployments, 'web', ns)).spec!.replicas! > 1);
  const warnings = lines
    .map((l) => JSON.parse(l) as { msg: string; err?: string })
    .filter((l) => l.msg.startsWith('HorizontalPodAutoscalers cannot be listed'));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.match(warnings[0]!.err!, /forbidden/i);
});
