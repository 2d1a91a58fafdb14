import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { NamedRuleWithOperations } from 'kubernetes-types/admissionregistration/v1.js';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { updateStatus } from '../../../src/runtime/objects.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { denyingPolicy } from '../../support/cluster.js';
import {
  intent,
  intentStatuses,
  simulatedWorkload,
  startPlanner,
  waitForCondition,
  webP95,
} from './support.js';

/**
 * Updates of Deployments in `ns` that break `expression` refused with `message`, as a site's
 * admission policy would; once in force, which a dry-run apply of `probe` to "web" (a change the
 * policy refuses) shows: policies take effect a moment after they are created.
 */
async function refuseDeploymentUpdates(
  t: TestContext,
  client: KubeClient,
  ns: string,
  policy: string,
  expression: string,
  message: string,
  probe: Deployment['spec'],
): Promise<void> {
  await denyingPolicy(t, client, `${ns}-${policy}`, {
    namespace: ns,
    // kubernetes-types leaves `resources` out of NamedRuleWithOperations; the API has it.
    rule: {
      apiGroups: ['apps'],
      apiVersions: ['v1'],
      operations: ['UPDATE'],
      resources: ['deployments'],
    } as NamedRuleWithOperations,
    expression,
    message,
  });
  await waitFor(
    () =>
      client
        .apply<Deployment>(
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'web', namespace: ns },
            spec: probe,
          },
          { dryRun: true, fieldManager: 'policy-probe' },
        )
        .then(
          () => false,
          (err: Error) => err.message.includes(message),
        ),
    { description: 'the admission policy to be in force', timeoutMs: 30_000 },
  );
}

/** The namespace forbids scaling out; once in force. */
async function refuseScaleOut(t: TestContext, client: KubeClient, ns: string): Promise<void> {
  await refuseDeploymentUpdates(
    t,
    client,
    ns,
    'no-scale-out',
    'object.spec.replicas <= oldObject.spec.replicas',
    'no scaling out here',
    { replicas: 5 } as Deployment['spec'],
  );
}

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

test('a plan the API server refuses: Planning=False ActuationFailed, Degraded, not carried out', async (t) => {
  const { client, ns } = await simulatedWorkload(t, 'planner-refused', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  await refuseScaleOut(t, client, ns);
  await startPlanner(t, ns, { actuators: ['scale_out'] });
  await client.create(webP95(ns));

  // Until Prometheus has scraped the simulator the intent is Degraded for want of a value.
  const failed = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (findCondition(i.status?.conditions, 'Degraded')?.reason === 'ActuationFailed') return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the intent to be Degraded with ActuationFailed', timeoutMs: 90_000, intervalMs: 250 },
  );
  const degraded = findCondition(failed.status?.conditions, 'Degraded')!;
  assert.equal(degraded.status, 'True');
  assert.match(degraded.message!, /no scaling out here/);
  const planning = findCondition(failed.status?.conditions, 'Planning')!;
  assert.deepEqual([planning.status, planning.reason], ['False', 'ActuationFailed']);
  assert.match(planning.message!, /carrying out the plan failed: .*no scaling out here/);
  assert.equal(failed.status!.lastPlan!.carriedOut, false);
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 1, 'nothing was scaled');
});

test('a plan the API server keeps refusing is tried again after controller_timeout, then less and less often, not round after round', async (t) => {
  const { client, ns } = await simulatedWorkload(t, 'planner-refused-again', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  await refuseScaleOut(t, client, ns);
  const { traces } = await startPlanner(t, ns, {
    actuators: ['scale_out'],
    config: { controller: { controller_timeout: 4, plan_cache_ttl: 3000, plan_cache_timeout: 20000 } },
  });
  const statuses = await intentStatuses(t, client, ns);
  await client.create(webP95(ns));

  // Each attempt to carry out the plan is a planning event with a failed execution.
  const attempts = async () =>
    (await traces.recentEvents(`${ns}/web-p95`, 100)).filter((e) => e.execution?.carriedOut === false).length;
  await waitFor(async () => (await attempts()) >= 1, {
    description: 'a first attempt to carry out the plan',
    timeoutMs: 90_000,
  });
  // The failed round writes the intent's status; that write must not start the next round. The
  // next attempt is due a whole controller_timeout (4 s) later: none comes within 3 s.
  const again = await waitFor(async () => (await attempts()) >= 2, {
    description: 'a second attempt',
    timeoutMs: 3000,
  }).then(
    () => true,
    () => false,
  );
  assert.equal(again, false, `attempts within 3 s of the first failure: ${await attempts()}`);

  // The status says when the plan is tried again, twice as late after each failure in a row.
  const failures = await waitFor(
    () => {
      const messages = statuses
        .map((i) => findCondition(i.status?.conditions, 'Planning'))
        .filter((c) => c?.reason === 'ActuationFailed')
        .map((c) => c!.message!);
      return messages.length >= 2 ? messages : undefined;
    },
    { description: 'two failed rounds', timeoutMs: 30_000 },
  );
  assert.match(failures[0]!, /no scaling out here; tried again in 4 s$/);
  assert.match(failures[1]!, /no scaling out here; tried again in 8 s \(failed 2 rounds in a row\)$/);
  assert.equal((await client.get(Deployments, 'web', ns)).spec!.replicas, 1, 'nothing was scaled');
});

test('a plan whose second action the API server refuses: the status and the trace say which action took effect and which failed, and a restarted planner lets that part settle', async (t) => {
  // 35 ms against 15 ms on one replica of 100m + 500m. With at most 2 pods, the cheapest plan
  // scales out to 2 and raises the app's CPU a step; scale_out is carried out first.
  const { client, ns } = await simulatedWorkload(t, 'planner-partial', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  // The namespace lets workloads be scaled but not their pods' resources changed.
  await refuseDeploymentUpdates(
    t,
    client,
    ns,
    'frozen-template',
    'object.spec.template == oldObject.spec.template',
    'pod templates are frozen here',
    {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', probe: 'x' } } },
    },
  );
  // Plans settle for 60 s: long enough that the planner is restarted while the first one does.
  const settings: Parameters<typeof startPlanner>[2] = {
    actuators: ['scale_out', 'cpu_scale'],
    config: {
      controller: { controller_timeout: 1, plan_cache_ttl: 60_000, plan_cache_timeout: 20000 },
      actuators: { scale_out: { max_pods: 2 } },
    },
  };
  const { traces, mgr } = await startPlanner(t, ns, settings);
  const statuses = await intentStatuses(t, client, ns);
  await client.create(webP95(ns));

  // The status written by the round that acted (later rounds let the scale-out settle).
  const failed = await waitFor(
    () => statuses.find((i) => i.status?.lastPlan?.actions.some((a) => a.name === 'cpu_scale')),
    { description: 'the plan with both actions to be reported', timeoutMs: 90_000 },
  );
  const plan = failed.status!.lastPlan!;
  assert.deepEqual([...new Set(plan.actions.map((a) => a.name))].sort(), ['cpu_scale', 'scale_out']);
  assert.equal(plan.carriedOut, false, 'not carried out in full');
  assert.match(
    plan.message!,
    /^partly carried out: scale_out\(factor=1, replicas=2\) took effect; cpu_scale\(container=app, cpu=\d+\)(, cpu_scale\(container=app, cpu=\d+\))* failed: .*pod templates are frozen here/,
  );
  const degraded = findCondition(failed.status?.conditions, 'Degraded')!;
  assert.deepEqual([degraded.status, degraded.reason], ['True', 'ActuationFailed']);
  assert.equal(degraded.message, plan.message);
  const planning = findCondition(failed.status?.conditions, 'Planning')!;
  assert.deepEqual(
    [planning.status, planning.reason, planning.message],
    ['False', 'ActuationFailed', plan.message],
  );
  // What took effect settles (not replanned on KPIs from before it), still Degraded meanwhile.
  const settling = await waitFor(
    () =>
      statuses
        .slice(statuses.indexOf(failed))
        .find((i) => findCondition(i.status?.conditions, 'Planning')?.reason === 'Settling'),
    { description: 'the scale-out that took effect to settle', timeoutMs: 30_000 },
  );
  assert.match(
    findCondition(settling.status?.conditions, 'Planning')!.message!,
    /the part of the last plan that took effect/,
  );
  const stillDegraded = findCondition(settling.status?.conditions, 'Degraded')!;
  assert.deepEqual([stillDegraded.status, stillDegraded.reason], ['True', 'ActuationFailed']);
  assert.deepEqual(settling.status!.lastPlan, plan);
  // As the status says: scaled out, CPU as it was.
  const web = await client.get(Deployments, 'web', ns);
  assert.equal(web.spec!.replicas, 2);
  assert.equal(web.spec!.template!.spec!.containers[1]!.resources!.requests!['cpu'], '500m');

  const event = (await traces.recentEvents(`${ns}/web-p95`, 20)).find((e) =>
    e.plan.some((a) => a.name === 'cpu_scale'),
  );
  assert.deepEqual(
    {
      carriedOut: event?.execution?.carriedOut,
      tookEffect: event?.execution?.tookEffect.map((a) => a.name),
      failed: [...new Set(event?.execution?.failed.map((a) => a.name))],
      message: event?.execution?.message,
    },
    { carriedOut: false, tookEffect: ['scale_out'], failed: ['cpu_scale'], message: plan.message },
  );

  // The planner restarts right after the round that failed part-way, so the status is as that
  // round left it (put back, since the first planner went on to write Settling).
  await mgr.stop();
  const restart = statuses.length;
  await updateStatus(client, Intents, 'web-p95', ns, (cur) => {
    cur.status = failed.status;
    return true;
  });
  await startPlanner(t, ns, settings);
  // Its first round lets what took effect settle, still Degraded; it does not replan at once.
  const resumed = await waitFor(
    () =>
      statuses
        .slice(restart)
        .find(
          (i) =>
            findCondition(i.status?.conditions, 'Planning')?.reason !== 'ActuationFailed' ||
            JSON.stringify(i.status?.lastPlan) !== JSON.stringify(plan),
        ),
    { description: 'the restarted planner to write the status', timeoutMs: 30_000 },
  );
  const resumedPlanning = findCondition(resumed.status?.conditions, 'Planning')!;
  assert.deepEqual(
    [resumedPlanning.reason, resumed.status!.lastPlan],
    ['Settling', plan],
    `after the restart: ${JSON.stringify(resumed.status)}`,
  );
  assert.match(resumedPlanning.message!, /the part of the last plan that took effect/);
  const resumedDegraded = findCondition(resumed.status?.conditions, 'Degraded')!;
  assert.deepEqual(
    [resumedDegraded.status, resumedDegraded.reason, resumedDegraded.message],
    ['True', 'ActuationFailed', plan.message],
  );
});

test('a trace store that cannot be written: the plan carried out is still reported in the status', async (t) => {
  // 35 ms against 15 ms on one replica: the first round scales out.
  const { client, ns } = await simulatedWorkload(t, 'planner-untraced', {
    name: 'web',
    replicas: 1,
    cpu: '500m',
    load: 200,
  });
  const { traceDir } = await startPlanner(t, ns, { actuators: ['scale_out'] });
  // Planning events cannot be appended (as on a full disk).
  await mkdir(join(traceDir, 'events.jsonl'));
  await client.create(webP95(ns));

  const scaled = await waitFor(
    async () => {
      const replicas = (await client.get(Deployments, 'web', ns)).spec!.replicas!;
      return replicas > 1 ? replicas : undefined;
    },
    { description: 'the planner to scale web out', timeoutMs: 90_000 },
  );
  // The status says what was done to the workload, whatever became of its trace.
  const reported = await waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (i.status?.lastPlan?.carriedOut) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the plan carried out to be reported', timeoutMs: 30_000, intervalMs: 250 },
  );
  const replicas = reported.status!.lastPlan!.actions.at(-1)!.properties!['replicas'];
  assert.ok(typeof replicas === 'number' && replicas > 1 && replicas <= scaled + 1, `lastPlan ${replicas}`);
  assert.notEqual(findCondition(reported.status?.conditions, 'Degraded')?.reason, 'ActuationFailed');
});
