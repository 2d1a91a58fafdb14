import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import {
  PERFORMER_FINALIZER,
  type Performer,
  Performers,
} from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Events, Pods, Services } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { isReady, performer, REVISION, setup, startController } from './operator-support.js';

function waitForPerformer<T>(
  client: KubeClient,
  ns: string,
  name: string,
  done: (p: Performer) => T | undefined | false,
  description: string,
): Promise<T> {
  return waitFor(
    async () => {
      const p = await client.find(Performers, name, ns);
      return p ? done(p) : undefined;
    },
    { description, timeoutMs: 60_000, intervalMs: 100 },
  );
}

test('the controller makes a Pod and a Service; the status is Running and ready with the endpoint; deletion cleans up', async (t) => {
  const { client, ns } = await setup(t, 'hg-op');
  await startController(t, ns);
  await client.create(performer(ns, 'web', { config: { grpcPort: 7000 } }));

  const p = await waitForPerformer(client, ns, 'web', (p) => p.status?.ready && p, 'web to be ready');
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.grpcEndpoint, `performer-web.${ns}.svc.cluster.local:7000`);
  assert.equal(p.status?.podName, 'performer-web');
  assert.deepEqual(p.metadata?.finalizers, [PERFORMER_FINALIZER]);
  const pod = await client.get(Pods, 'performer-web', ns);
  const svc = await client.get(Services, 'performer-web', ns);
  assert.ok(isReady(pod));
  assert.equal(svc.spec?.selector?.[REVISION], pod.metadata?.labels?.[REVISION]);
  assert.equal(svc.spec?.ports?.[0]?.port, 7000);
  // The history `kubectl describe performer` shows: one Ready Event, sent without holding up the
  // reconcile, so it may land just after the status.
  const readyEvents = await waitFor(
    async () => {
      const events = (await client.list(Events, { namespace: ns })).items.filter(
        (e) => e.regarding?.uid === p.metadata?.uid && e.reason === 'Ready',
      );
      return events.length > 0 && events;
    },
    { description: 'a Ready Event about web', timeoutMs: 60_000 },
  );
  assert.equal(readyEvents.length, 1);
  assert.equal(readyEvents[0]?.type, 'Normal');
  assert.equal(readyEvents[0]?.reportingController, 'hourglass.eigenlayer.io/performer-controller');
  assert.equal(readyEvents[0]?.note, 'performer-web is Ready');

  // A Pod deleted behind the operator's back comes back: the controller owns Pods.
  await client.delete(Pods, 'performer-web', ns, { gracePeriodSeconds: 0 });
  await waitFor(
    async () => {
      const again = await client.find(Pods, 'performer-web', ns);
      return again && again.metadata?.uid !== pod.metadata?.uid && isReady(again);
    },
    { description: 'a new Ready Pod in place of the deleted one', timeoutMs: 60_000 },
  );

  await client.delete(Performers, 'web', ns);
  await waitFor(async () => !(await client.find(Performers, 'web', ns)), {
    description: 'the Performer to be gone once its finalizer is removed',
    timeoutMs: 60_000,
  });
  assert.deepEqual((await client.list(Pods, { namespace: ns })).items, []);
  assert.equal(await client.find(Services, 'performer-web', ns), undefined);
});

test('an image change upgrades with the Service always selecting a Ready Pod', async (t) => {
  const { client, ns } = await setup(t, 'hg-op-upg');
  await startController(t, ns);
  await client.create(performer(ns, 'api'));
  await waitForPerformer(client, ns, 'api', (p) => p.status?.ready, 'api to be ready');
  const oldRevision = (await client.get(Pods, 'performer-api', ns)).metadata?.labels?.[REVISION];

  await client.patch(Performers, 'api', ns, { spec: { image: 'ghcr.io/acme/perf2' } });
  const selected = new Set<string>();
  const gaps: string[] = [];
  const upgraded = await waitFor(
    async () => {
      // Pods listed before and after reading the Service: a Pod it selected was Ready in one of them
      // even when the Service switched, or the old Pod went, in between.
      const before = (await client.list(Pods, { namespace: ns })).items;
      const revision = (await client.get(Services, 'performer-api', ns)).spec?.selector?.[REVISION];
      const pods = (await client.list(Pods, { namespace: ns })).items;
      if (!revision) return false;
      const live = pods.filter((p: Pod) => !p.metadata?.deletionTimestamp);
      selected.add(revision);
      if (!before.concat(pods).some((p: Pod) => p.metadata?.labels?.[REVISION] === revision && isReady(p)))
        gaps.push(revision);
      const p = await client.get(Performers, 'api', ns);
      return (
        p.status?.phase === 'Running' &&
        p.status.observedGeneration === 2 &&
        live.length === 1 &&
        revision !== oldRevision &&
        p
      );
    },
    { description: 'the upgrade to finish', timeoutMs: 60_000, intervalMs: 20 },
  );
  assert.deepEqual(gaps, [], 'the Service selected a revision with no Ready Pod');
  const newRevision = (await client.get(Pods, upgraded.status!.podName!, ns)).metadata?.labels?.[REVISION];
  assert.equal(upgraded.status?.podName, `performer-api-${newRevision}`);
  assert.deepEqual([...selected], [oldRevision, newRevision]);
  assert.ok(upgraded.status?.lastUpgrade, 'lastUpgrade is set');
});

test('an image that cannot be pulled is reported as ImagePullFailed, with the reason the kubelet gave', async (t) => {
  const { client, ns } = await setup(t, 'hg-pull');
  await startController(t, ns);
  // The local plane's simulated kubelet fails pulls from registries under .invalid.
  await client.create(performer(ns, 'unpullable', { image: 'registry.invalid/acme/perf' }));
  const degraded = await waitForPerformer(
    client,
    ns,
    'unpullable',
    (p) => p.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'),
    'unpullable to be Degraded',
  );
  assert.equal(degraded.reason, 'ImagePullFailed');
  assert.match(degraded.message ?? '', /performer-unpullable.*(ErrImagePull|ImagePullBackOff)/);
  const p = await client.get(Performers, 'unpullable', ns);
  assert.equal(p.status?.ready, false);
  assert.equal(p.status?.phase, 'Pending');
});

test('an upgrade’s Events name the new Pod, and warn when it cannot pull its image while the old one serves', async (t) => {
  const { client, ns } = await setup(t, 'hg-op-ev');
  await startController(t, ns);
  await client.create(performer(ns, 'api'));
  const before = await waitForPerformer(client, ns, 'api', (p) => p.status?.ready && p, 'api to be ready');
  await client.patch(Performers, 'api', ns, { spec: { image: 'registry.invalid/acme/perf' } });
  const events = (reason: string) =>
    waitFor(
      async () =>
        (await client.list(Events, { namespace: ns })).items.find(
          (e) => e.regarding?.uid === before.metadata?.uid && e.reason === reason,
        ),
      { description: `a ${reason} Event about api`, timeoutMs: 60_000 },
    );
  const upgrading = await events('Upgrading');
  const pods = (await client.list(Pods, { namespace: ns })).items;
  const newPod = pods.find((p) => p.metadata?.name !== 'performer-api');
  assert.ok(newPod, `a new Pod beside performer-api: ${pods.map((p) => p.metadata?.name)}`);
  assert.match(
    upgrading.note ?? '',
    new RegExp(`^Pod ${newPod.metadata?.name} replaces Pod performer-api\\b`),
  );

  const pullFailed = await events('ImagePullFailed');
  assert.equal(pullFailed.type, 'Warning');
  assert.match(
    pullFailed.note ?? '',
    new RegExp(`${newPod.metadata?.name}.*(ErrImagePull|ImagePullBackOff)`),
  );
  const p = await client.get(Performers, 'api', ns);
  assert.equal(p.status?.ready, true, 'the old Pod still serves');
  assert.equal(p.status?.podName, 'performer-api');
});

test('a Pod the API server forbids is Degraded FailedCreate with a Warning Event, and runs once its ServiceAccount exists', async (t) => {
  const { client, ns } = await setup(t, 'hg-op-forbid');
  await startController(t, ns);
  const created = await client.create(performer(ns, 'sa', { config: { serviceAccountName: 'runner' } }));
  const degraded = await waitForPerformer(
    client,
    ns,
    'sa',
    (p) => p.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'),
    'sa to be Degraded',
  );
  assert.equal(degraded.reason, 'FailedCreate');
  assert.equal((await client.get(Performers, 'sa', ns)).status?.phase, 'Pending');
  const warning = await waitFor(
    async () =>
      (await client.list(Events, { namespace: ns })).items.find(
        (e) => e.regarding?.uid === created.metadata?.uid && e.reason === 'FailedCreate',
      ),
    { description: 'a FailedCreate Event about sa', timeoutMs: 60_000 },
  );
  assert.equal(warning.type, 'Warning');
  assert.match(warning.note ?? '', /serviceaccount "runner" not found/);

  await client.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'runner', namespace: ns },
  });
  const p = await waitForPerformer(client, ns, 'sa', (p) => p.status?.ready && p, 'sa to be ready');
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'AsExpected');
});

test('a spec the API server refuses is Failed InvalidSpec with a Warning Event quoting the cause', async (t) => {
  const { client, ns } = await setup(t, 'hg-op-inv');
  await startController(t, ns);
  const created = await client.create(
    performer(ns, 'over', { resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } }),
  );
  const degraded = await waitForPerformer(
    client,
    ns,
    'over',
    (p) => p.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'),
    'over to be Degraded',
  );
  assert.equal(degraded.reason, 'InvalidSpec');
  assert.equal((await client.get(Performers, 'over', ns)).status?.phase, 'Failed');
  const warning = await waitFor(
    async () =>
      (await client.list(Events, { namespace: ns })).items.find(
        (e) => e.regarding?.uid === created.metadata?.uid && e.reason === 'InvalidSpec',
      ),
    { description: 'an InvalidSpec Event about over', timeoutMs: 60_000 },
  );
  assert.equal(warning.type, 'Warning');
  assert.match(warning.note ?? '', /Pod "performer-over" is invalid: .*memory/);
});
