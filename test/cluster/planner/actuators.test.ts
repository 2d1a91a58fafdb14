import assert from 'node:assert/strict';
import { mkdtemp, rm as remove } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Action } from '../../../src/planner/actuator.js';
import { CpuScaleActuator } from '../../../src/planner/actuators/cpu-scale.js';
import { RmPodActuator } from '../../../src/planner/actuators/rm-pod.js';
import { scalingActuators } from '../../../src/planner/actuators/scaling.js';
import { DEFAULT_CONFIG } from '../../../src/planner/config.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { KpiObserver } from '../../../src/planner/observer.js';
import { PrometheusClient } from '../../../src/planner/prometheus.js';
import { JsonLinesTraceStore } from '../../../src/planner/trace/jsonl-store.js';
import { WorkloadChangedError, WorkloadUpdater } from '../../../src/planner/workload.js';
import { Deployments, Pods } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { asPlannerServiceAccount, createWorkload, intent } from './support.js';

const isReady = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

// Each actuator's perform, against the cluster, as the seed's ClusterRole allows it; the
// state it starts from is what the observer reads.
test('every actuator carries out its action on the workload, with the seed ClusterRole', async (t) => {
  const admin = await testClient(t);
  await installCrds(admin, plannerCrds());
  const ns = await testNamespace(t, admin, 'planner-act');
  await createWorkload(admin, ns, 'web', 2, '500m');
  const client = admin.impersonating(await asPlannerServiceAccount(t, admin, ns));
  const dir = await mkdtemp(join(tmpdir(), 'tutti-planner-act-'));
  t.after(() => remove(dir, { recursive: true, force: true }));
  const traces = await JsonLinesTraceStore.open(dir);
  const updater = new WorkloadUpdater(client);
  const observer = new KpiObserver({
    client,
    prometheus: new PrometheusClient(),
    profile: () => ({
      apiVersion: 'ido.intel.com/v1alpha1',
      kind: 'KPIProfile',
      spec: { type: 'availability' },
    }),
    defaultQueries: {},
  });
  const observe = async () => {
    const o = await observer.observe(
      intent(ns, 'web', 'web', [{ name: 'up', value: 1, measuredBy: `${ns}/availability` }]),
    );
    assert.ok(o.ok);
    return o;
  };
  const ready = (n: number) =>
    waitFor(
      async () => {
        const pods = (await admin.list(Pods, { namespace: ns, labelSelector: 'app=web' })).items;
        const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
        return live.length === n && live.every(isReady) ? live : undefined;
      },
      { description: `${n} ready pods of web`, timeoutMs: 60_000 },
    );
  await ready(2);
  let o = await observe();
  assert.equal(o.state.replicas, 2);
  assert.deepEqual(o.state.cpu, { sidecar: { request: 100, limit: 0 }, app: { request: 500, limit: 500 } });
  assert.equal(o.state.objectives['up'], 1, 'availability: every pod ready, none restarted');

  const [scaleOut, scaleIn] = scalingActuators(DEFAULT_CONFIG.actuators.scale_out, updater, traces);
  await scaleOut.perform(o.state, [{ name: 'scale_out', properties: { factor: 2, replicas: 4 } }]);
  assert.equal((await admin.get(Deployments, 'web', ns)).spec!.replicas, 4);
  await ready(4);
  o = await observe();
  await scaleIn.perform(o.state, [{ name: 'scale_in', properties: { factor: -3, replicas: 1 } }]);
  assert.equal((await admin.get(Deployments, 'web', ns)).spec!.replicas, 1);
  const [pod] = await ready(1);

  const cpu = new CpuScaleActuator(
    { ...DEFAULT_CONFIG.actuators.cpu_scale, boost_factor: 2 },
    updater,
    traces,
  );
  o = await observe();
  await cpu.perform(o.state, [{ name: 'cpu_scale', properties: { container: 'app', cpu: 700 } }]);
  o = await observe();
  assert.deepEqual(o.state.cpu, { sidecar: { request: 100, limit: 0 }, app: { request: 700, limit: 1400 } });

  const rm = new RmPodActuator(DEFAULT_CONFIG.actuators.rm_pod, updater);
  const [current] = await waitFor(
    async () => {
      const live = await ready(1);
      return live[0]!.metadata!.name !== pod!.metadata!.name ? live : undefined;
    },
    { description: 'the CPU change to roll out a new pod', timeoutMs: 60_000 },
  );
  o = await observe();
  await rm.perform(o.state, [{ name: 'rm_pod', properties: { name: current!.metadata!.name! } }]);
  await waitFor(
    async () => {
      const live = await ready(1);
      return live[0]!.metadata!.uid !== current!.metadata!.uid;
    },
    { description: 'the removed pod to be replaced', timeoutMs: 60_000 },
  );

  // A pod observed unhealthy that has recovered since is not removed: the plan is dropped.
  o = await observe();
  const [recovered] = await ready(1);
  const name = recovered!.metadata!.name!;
  await assert.rejects(
    rm.perform({ ...o.state, pods: { [name]: { ready: false, restarts: 0, failed: false } } }, [
      { name: 'rm_pod', properties: { name } },
    ]),
    (err: Error) =>
      err instanceof WorkloadChangedError && /recovered since it was observed/.test(err.message),
  );
  assert.equal((await admin.get(Pods, name, ns)).metadata?.deletionTimestamp, undefined, 'the pod stays');

  // One plan, two changes to the spec observed once: the second is made on top of the first, not
  // refused as a change by someone else.
  o = await observe();
  const both: Action[] = [
    { name: 'scale_out', properties: { factor: 1, replicas: 2 } },
    { name: 'cpu_scale', properties: { container: 'app', cpu: 800 } },
  ];
  for (const a of [scaleOut, scaleIn, rm, cpu]) await a.perform(o.state, both);
  o = await observe();
  assert.equal(o.state.replicas, 2);
  assert.deepEqual(o.state.cpu.app, { request: 800, limit: 1600 });

  // A workload deleted and made again under its name counts its generations from 1 anew: the
  // changes made to the one before do not make the new one look changed by someone else.
  // Twice, so that the second new one meets the change made to the first at its generation 1.
  for (let round = 0; round < 2; round++) {
    await admin.delete(Deployments, 'web', ns);
    await waitFor(async () => !(await admin.find(Deployments, 'web', ns)), {
      description: 'the Deployment to be gone',
      timeoutMs: 30_000,
    });
    await createWorkload(admin, ns, 'web', 1, '500m');
    o = await observe();
    assert.equal(o.state.target.generation, 1);
    await scaleOut.perform(o.state, [{ name: 'scale_out', properties: { factor: 1, replicas: 2 } }]);
    assert.equal((await admin.get(Deployments, 'web', ns)).spec!.replicas, 2);
  }
  await traces.close();
});
