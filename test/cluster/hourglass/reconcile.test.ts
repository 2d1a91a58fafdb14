import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import {
  PERFORMER_FINALIZER,
  type Performer,
  Performers,
} from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { type ReconcileOptions, reconcilePerformer } from '../../../src/hourglass/reconcile.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { ForbiddenError } from '../../../src/runtime/client/errors.js';
import { Pods, Services } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { releaseFinalizersAtEnd } from '../../support/cluster.js';
import { performer, REVISION, setup as setupNamespace } from './operator-support.js';

const setup = (t: TestContext, prefix: string) => setupNamespace(t, prefix, 'hourglass-operator');

/** Reconciles, as the controller would on every change, until `done` holds. */
async function reconcileUntil<T>(
  client: KubeClient,
  ns: string,
  name: string,
  done: (p: Performer, pods: Pod[]) => T | undefined | false,
  description: string,
  options: ReconcileOptions = {},
  afterEach?: (pods: Pod[]) => Promise<void>,
): Promise<T> {
  return waitFor(
    async () => {
      const current = await client.find(Performers, name, ns);
      if (current) await reconcilePerformer(client, current, options);
      const pods = (await client.list(Pods, { namespace: ns })).items;
      await afterEach?.(pods);
      const after = await client.find(Performers, name, ns);
      return after ? done(after, pods) : done({ spec: {} } as Performer, pods);
    },
    { description, timeoutMs: 60_000, intervalMs: 200 },
  );
}

const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

test('create: Pod and Service exist, the status is Running and ready with the endpoint', async (t) => {
  const { client, ns } = await setup(t, 'hg-rec');
  await client.create(performer(ns, 'web', { config: { grpcPort: 7000 } }));
  const p = await reconcileUntil(client, ns, 'web', (p) => p.status?.ready && p, 'the Performer to be ready');
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.grpcEndpoint, `performer-web.${ns}.svc.cluster.local:7000`);
  assert.equal(p.status?.serviceName, 'performer-web');
  assert.equal(p.status?.podName, 'performer-web');
  assert.equal(p.status?.observedGeneration, 1);
  assert.ok(p.status?.readyTime);
  assert.deepEqual(
    p.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Available', 'True', 'PodReady'],
      ['Progressing', 'False', 'PodReady'],
      ['Degraded', 'False', 'AsExpected'],
    ],
  );
  assert.deepEqual(p.metadata?.finalizers, [PERFORMER_FINALIZER]);
  const pod = await client.get(Pods, 'performer-web', ns);
  const svc = await client.get(Services, 'performer-web', ns);
  assert.equal(svc.spec?.selector?.[REVISION], pod.metadata?.labels?.[REVISION]);
  assert.equal(svc.spec?.ports?.[0]?.port, 7000);
  assert.equal(svc.metadata?.ownerReferences?.[0]?.uid, p.metadata?.uid);
  assert.equal(pod.metadata?.ownerReferences?.[0]?.controller, true);

  // Deletion: the finalizer holds the Performer until its Pod and Service are gone.
  await client.delete(Performers, 'web', ns);
  await reconcileUntil(client, ns, 'web', (_p, pods) => pods.length === 0, 'the Performer to be cleaned up');
  assert.equal(await client.find(Services, 'performer-web', ns), undefined);
  await waitFor(async () => !(await client.find(Performers, 'web', ns)), {
    description: 'the Performer to be gone once its finalizer is removed',
    timeoutMs: 30_000,
  });
});

test('a status computed from a Performer that changed since is not written over the newer one', async (t) => {
  const { client, ns } = await setup(t, 'hg-stale');
  const created = await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  const current = await client.get(Performers, 'web', ns);
  // A reconcile on the object as first created (no status, an old resourceVersion) would write
  // Running again with new times; the API server refuses it as stale.
  const result = await reconcilePerformer(client, {
    ...created,
    metadata: { ...current.metadata, resourceVersion: created.metadata?.resourceVersion },
  });
  assert.equal(result.requeueAfterMs !== undefined, true, 'a refused write is tried again');
  const after = await client.get(Performers, 'web', ns);
  assert.equal(after.metadata?.resourceVersion, current.metadata?.resourceVersion);
  assert.deepEqual(after.status, current.status);
});

test('a Pod merely starting: the Performer reads Pending, and its first status waits for the Pod to be Ready or the delay', async (t) => {
  const { client, ns } = await setup(t, 'hg-first');
  await client.create(performer(ns, 'quick'));
  // Before the operator has said anything, the CRD's default.
  assert.deepEqual((await client.get(Performers, 'quick', ns)).status, { phase: 'Pending', ready: false });

  const options = { pendingStatusDelayMs: 60_000 };
  const first = await reconcilePerformer(client, await client.get(Performers, 'quick', ns), options);
  assert.equal(first.status?.phase, 'Pending');
  assert.ok(
    first.requeueAfterMs! > 0 && first.requeueAfterMs! <= 60_000,
    `requeue in ${first.requeueAfterMs} ms`,
  );
  assert.deepEqual((await client.get(Performers, 'quick', ns)).status, { phase: 'Pending', ready: false });
  // The Pod turns Ready well within the delay: the first status written says so.
  const p = await reconcileUntil(client, ns, 'quick', (p) => p.status?.conditions && p, 'a status', options);
  assert.equal(p.status?.phase, 'Running');

  // With no delay the first reconcile reports the Pod it has just made as starting.
  await client.create(performer(ns, 'eager'));
  await reconcilePerformer(client, await client.get(Performers, 'eager', ns), { pendingStatusDelayMs: 0 });
  const eager = await client.get(Performers, 'eager', ns);
  assert.deepEqual(
    eager.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Available', 'False', 'PodPending'],
      ['Progressing', 'True', 'PodPending'],
      ['Degraded', 'False', 'AsExpected'],
    ],
  );

  // A problem is never held back: a Performer no node can host is Degraded at the first reconcile.
  await client.create(performer(ns, 'gpu', { hardwareRequirements: { gpuCount: 1, gpuType: 'h100' } }));
  await reconcilePerformer(client, await client.get(Performers, 'gpu', ns), options);
  const gpu = await client.get(Performers, 'gpu', ns);
  assert.equal(gpu.status?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'HardwareUnavailable');
});

test('an image change upgrades with the Service always selecting a Ready Pod', async (t) => {
  const { client, ns } = await setup(t, 'hg-upg');
  await client.create(performer(ns, 'api'));
  const before = await reconcileUntil(
    client,
    ns,
    'api',
    (p) => p.status?.ready && p,
    'the first Pod to be ready',
  );
  const oldRevision = (await client.get(Pods, 'performer-api', ns)).metadata?.labels?.[REVISION];

  await client.patch(Performers, 'api', ns, { spec: { image: 'ghcr.io/acme/perf2' } });
  const phases = new Set<string>();
  const selectedRevisions = new Set<string>();
  // After every step, the Service selects a Pod that is Ready.
  const checkService = async (pods: Pod[]) => {
    const selected = (await client.get(Services, 'performer-api', ns)).spec?.selector?.[REVISION];
    selectedRevisions.add(selected!);
    const selectedReady = pods.filter((p) => p.metadata?.labels?.[REVISION] === selected && ready(p));
    assert.ok(selectedReady.length > 0, `the Service selects revision ${selected}, which has no Ready Pod`);
  };
  const after = await reconcileUntil(
    client,
    ns,
    'api',
    (p, pods) => {
      if (p.status?.phase) phases.add(p.status.phase);
      return p.status?.phase === 'Running' && pods.length === 1 && p.status.podName !== 'performer-api' && p;
    },
    'the upgrade to finish',
    {},
    checkService,
  );
  assert.ok(phases.has('Upgrading'), `phases seen: ${[...phases].join(', ')}`);
  const newRevision = (await client.get(Pods, after.status!.podName!, ns)).metadata?.labels?.[REVISION];
  assert.notEqual(newRevision, oldRevision);
  assert.equal(after.status?.podName, `performer-api-${newRevision}`);
  assert.deepEqual([...selectedRevisions], [oldRevision, newRevision]);
  assert.ok(after.status?.lastUpgrade, 'lastUpgrade is set');
  assert.equal(before.status?.lastUpgrade, undefined);
  assert.equal(after.status?.observedGeneration, 2);
  assert.equal(await client.find(Pods, 'performer-api', ns), undefined, 'the old Pod is deleted');
});

test('a Failed Pod is recreated; a Performer no node can host is Degraded HardwareUnavailable', async (t) => {
  const { client, ns } = await setup(t, 'hg-fail');
  await client.create(performer(ns, 'crashy'));
  await reconcileUntil(client, ns, 'crashy', (p) => p.status?.ready, 'the Pod to be ready');
  const first = await client.get(Pods, 'performer-crashy', ns);
  await client.patch(
    Pods,
    'performer-crashy',
    ns,
    { status: { phase: 'Failed', reason: 'Crashed', message: 'the performer exited' } },
    'merge',
    'status',
  );
  const replaced = await reconcileUntil(
    client,
    ns,
    'crashy',
    (p, pods) => {
      const fresh = pods.find((pod) => pod.metadata?.uid !== first.metadata?.uid && ready(pod));
      return p.status?.ready && fresh;
    },
    'a new Ready Pod to replace the Failed one',
    { recreateBackoffMs: 0 },
  );
  assert.equal(replaced.metadata?.annotations?.['hourglass.eigenlayer.io/recreations'], '1');

  await client.create(
    performer(ns, 'enclave', { hardwareRequirements: { teeRequired: true, teeType: 'sgx' } }),
  );
  const degraded = await reconcileUntil(
    client,
    ns,
    'enclave',
    (p) => p.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True') && p,
    'the Performer to be Degraded',
    { pendingTimeoutMs: 60_000 },
  );
  assert.equal(degraded.status?.phase, 'Pending');
  assert.equal(degraded.status?.ready, false);
  const cond = degraded.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(cond?.reason, 'HardwareUnavailable');
  assert.match(
    cond?.message ?? '',
    /0\/4 nodes can host the performer: 4 lacks label intel\.feature\.node\.kubernetes\.io\/sgx=true/,
  );
  assert.equal(
    degraded.status?.conditions?.find((c) => c.type === 'Available')?.reason,
    'HardwareUnavailable',
  );

  // Pending past the limit: the Pod is recreated.
  const pendingPod = await client.get(Pods, 'performer-enclave', ns);
  const result = await reconcilePerformer(client, (await client.get(Performers, 'enclave', ns))!, {
    pendingTimeoutMs: 0,
    recreateBackoffMs: 0,
  });
  assert.equal(result.status?.phase, 'Pending');
  const pods = (
    await client.list(Pods, { namespace: ns, labelSelector: 'hourglass.eigenlayer.io/performer=enclave' })
  ).items;
  const recreated = pods.find(
    (p) => p.metadata?.uid !== pendingPod.metadata?.uid && !p.metadata?.deletionTimestamp,
  );
  assert.ok(recreated, 'a new Pod replaced the long-Pending one');
  assert.equal(recreated.metadata?.annotations?.['hourglass.eigenlayer.io/recreations'], '1');
});

test('a Pod stuck terminating (its node lost) is waited for until past its deletion deadline, then replaced under the revision’s name', async (t) => {
  const { client, ns } = await setup(t, 'hg-stuck');
  releaseFinalizersAtEnd(t, client, Pods, ns);
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  // A finalizer no one removes holds the Pod terminating, as a Node that never answers does.
  await client.patch(Pods, 'performer-web', ns, { metadata: { finalizers: ['test.tutti.dev/hold'] } });
  await client.delete(Pods, 'performer-web', ns, { gracePeriodSeconds: 0 });
  const names = async () => (await client.list(Pods, { namespace: ns })).items.map((p) => p.metadata?.name);

  const waiting = await reconcilePerformer(client, await client.get(Performers, 'web', ns), {
    terminatingWaitMs: 600_000,
  });
  assert.ok((waiting.requeueAfterMs ?? 0) > 0, 'looked at again while the name is waited for');
  assert.deepEqual(await names(), ['performer-web'], 'no second Pod while the name is waited for');

  const p = await reconcileUntil(client, ns, 'web', (p) => p.status?.ready && p, 'a replacement to serve', {
    terminatingWaitMs: 0,
  });
  assert.match(p.status?.podName ?? '', /^performer-web-[a-z0-9]+$/);
  assert.deepEqual((await names()).sort(), ['performer-web', p.status?.podName].sort());
  const pod = await client.get(Pods, p.status!.podName!, ns);
  const svc = await client.get(Services, 'performer-web', ns);
  assert.equal(svc.spec?.selector?.[REVISION], pod.metadata?.labels?.[REVISION]);
});

test('an upgrade’s new Pod that keeps failing is recreated with a growing recreation count', async (t) => {
  const { client, ns } = await setup(t, 'hg-upfail');
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  // An image that never pulls: the new Pod stays Pending, past a limit of zero.
  await client.patch(Performers, 'web', ns, { spec: { image: 'registry.invalid/perf', version: 'v2' } });
  const options = { pendingTimeoutMs: 0, recreateBackoffMs: 0 };
  const counts = new Set<string>();
  await reconcileUntil(
    client,
    ns,
    'web',
    (_p, pods) => {
      for (const pod of pods) {
        const n = pod.metadata?.annotations?.['hourglass.eigenlayer.io/recreations'];
        if (n && pod.metadata?.name !== 'performer-web') counts.add(n);
      }
      return counts.has('3');
    },
    'the upgrade’s Pod to be recreated three times, counted',
    options,
  );
  const serving = await client.get(Pods, 'performer-web', ns);
  assert.equal(serving.metadata?.deletionTimestamp, undefined, 'the old Pod serves throughout');
  assert.equal((await client.get(Performers, 'web', ns)).status?.phase, 'Upgrading');
});

test('a container that crash-loops makes the Performer Degraded ContainerFailing with the kubelet’s reason and exit code', async (t) => {
  const { client, ns } = await setup(t, 'hg-crash');
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  const pod = await client.get(Pods, 'performer-web', ns);
  const [container] = pod.status?.containerStatuses ?? [];
  assert.ok(container, 'the Pod reports its container');
  // What a kubelet reports of a container that keeps exiting.
  await client.patch(
    Pods,
    'performer-web',
    ns,
    {
      status: {
        conditions: pod.status?.conditions?.map((c) =>
          c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' } : c,
        ),
        containerStatuses: [
          {
            ...container,
            ready: false,
            started: false,
            restartCount: 4,
            state: {
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container' },
            },
            lastState: { terminated: { exitCode: 2, reason: 'Error' } },
          },
        ],
      },
    },
    'merge',
    'status',
  );
  const p = await reconcileUntil(
    client,
    ns,
    'web',
    (p) => p.status?.ready === false && p,
    'the Performer to read not ready',
  );
  assert.equal(p.status?.phase, 'Pending');
  const degraded = p.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.equal(degraded?.reason, 'ContainerFailing');
  assert.equal(
    degraded?.message,
    'Pod performer-web: container performer: CrashLoopBackOff: back-off 1m20s restarting failed container (last exit code 2)',
  );
  assert.equal(p.status?.conditions?.find((c) => c.type === 'Available')?.reason, 'ContainerFailing');
});

test('a Pod the API server forbids (no such ServiceAccount) is Degraded FailedCreate with its cause and retried; once allowed it runs', async (t) => {
  const { client, ns } = await setup(t, 'hg-forbid');
  await client.create(performer(ns, 'sa', { config: { serviceAccountName: 'runner' } }));
  const result = await reconcilePerformer(client, await client.get(Performers, 'sa', ns));
  assert.ok(result.failedCreate instanceof ForbiddenError, 'the caller is told to retry');
  const pending = await client.get(Performers, 'sa', ns);
  assert.equal(pending.status?.phase, 'Pending');
  assert.equal(pending.status?.ready, false);
  assert.deepEqual(
    pending.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Available', 'False', 'FailedCreate'],
      ['Progressing', 'True', 'FailedCreate'],
      ['Degraded', 'True', 'FailedCreate'],
    ],
  );
  const degraded = pending.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.match(degraded?.message ?? '', /serviceaccount "runner" not found/);
  assert.deepEqual((await client.list(Pods, { namespace: ns })).items, []);
  // Retried with nothing changed: the same answer, no status write.
  assert.ok((await reconcilePerformer(client, pending)).failedCreate);
  assert.equal(
    (await client.get(Performers, 'sa', ns)).metadata?.resourceVersion,
    pending.metadata?.resourceVersion,
  );

  await client.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'runner', namespace: ns },
  });
  const p = await reconcileUntil(
    client,
    ns,
    'sa',
    (p) => p.status?.ready && p,
    'the allowed Performer to be ready',
  );
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'AsExpected');
});

test('a spec the API server refuses the Pod for is Failed and Degraded InvalidSpec with its cause, not retried in silence', async (t) => {
  const { client, ns } = await setup(t, 'hg-invalid');
  // requests above limits pass the CRD but not the Pod's validation.
  await client.create(performer(ns, 'over', { resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } }));
  const result = await reconcilePerformer(client, await client.get(Performers, 'over', ns));
  assert.equal(result.requeueAfterMs, undefined, 'no retry until the spec changes');
  const failed = await client.get(Performers, 'over', ns);
  assert.equal(failed.status?.phase, 'Failed');
  assert.equal(failed.status?.ready, false);
  const degraded = failed.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.equal(degraded?.reason, 'InvalidSpec');
  assert.match(degraded?.message ?? '', /Pod "performer-over" is invalid: .*cpu.*limit/);
  assert.deepEqual(
    failed.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Available', 'False', 'InvalidSpec'],
      ['Progressing', 'False', 'InvalidSpec'],
      ['Degraded', 'True', 'InvalidSpec'],
    ],
  );
  assert.deepEqual((await client.list(Pods, { namespace: ns })).items, []);
  // Reconciling again changes nothing: no status write.
  await reconcilePerformer(client, failed);
  assert.equal(
    (await client.get(Performers, 'over', ns)).metadata?.resourceVersion,
    failed.metadata?.resourceVersion,
  );

  // A Performer stored before the CRD refused bad customLabels: the label's cause is quoted.
  const stored = await client.get(Performers, 'over', ns);
  await reconcilePerformer(client, {
    ...stored,
    spec: { ...stored.spec, resources: {}, hardwareRequirements: { customLabels: { 'bad key!': 'x' } } },
  });
  const labelled = (await client.get(Performers, 'over', ns)).status?.conditions?.find(
    (c) => c.type === 'Degraded',
  );
  assert.equal(labelled?.reason, 'InvalidSpec');
  assert.match(labelled?.message ?? '', /metadata\.labels: Invalid value: "bad key!"/);

  // Fixed, it runs.
  await client.patch(Performers, 'over', ns, { spec: { resources: { limits: null, requests: null } } });
  const p = await reconcileUntil(
    client,
    ns,
    'over',
    (p) => p.status?.ready && p,
    'the fixed Performer to be ready',
  );
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.conditions?.find((c) => c.type === 'Degraded')?.reason, 'AsExpected');
});

test('a Pod relabelled out of the Performer is left alone and replaced under the other name, and the Performer serves again', async (t) => {
  const { client, ns } = await setup(t, 'hg-relabel');
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  // Taken out of the Performer's selector, as one does to debug a Pod: it still holds the plain name.
  const taken = await client.patch(Pods, 'performer-web', ns, {
    metadata: { labels: { 'hourglass.eigenlayer.io/performer': null } },
  });
  const p = await reconcileUntil(
    client,
    ns,
    'web',
    (p, pods) =>
      p.status?.ready &&
      pods.some(
        (pod) => pod.metadata?.labels?.['hourglass.eigenlayer.io/performer'] === 'web' && ready(pod),
      ) &&
      p,
    'a replacement Pod to serve',
  );
  const revision = taken.metadata?.labels?.[REVISION];
  assert.equal(p.status?.podName, `performer-web-${revision}`);
  const svc = await client.get(Services, 'performer-web', ns);
  assert.equal(svc.spec?.selector?.[REVISION], revision);
  const kept = await client.get(Pods, 'performer-web', ns);
  assert.equal(kept.metadata?.uid, taken.metadata?.uid, 'the relabelled Pod is not deleted');
  assert.equal(kept.metadata?.deletionTimestamp, undefined);
});

test('a Service whose selector someone edited, or added a key to, selects the Performer’s Pod again', async (t) => {
  const { client, ns } = await setup(t, 'hg-svcsel');
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  const want = (await client.get(Services, 'performer-web', ns)).spec?.selector;
  // A changed key, then an added one: either way the Service selects no Pod.
  for (const edit of [{ app: 'something-else', extra: 'x' }, { extra: 'y' }]) {
    await client.patch(Services, 'performer-web', ns, { spec: { selector: edit } });
    // The Performer still reads Ready: its Service must route to its Pod again.
    const selector = await waitFor(
      async () => {
        await reconcilePerformer(client, await client.get(Performers, 'web', ns));
        const s = (await client.get(Services, 'performer-web', ns)).spec?.selector;
        return isDeepStrictEqual(s, want) && s;
      },
      {
        description: `the Service to select the Performer’s Pod again after ${JSON.stringify(edit)}`,
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    assert.equal(selector.app, 'hourglass-performer');
    assert.equal((await client.get(Performers, 'web', ns)).status?.ready, true);
  }
});

test('a grpcPort change: the Service carries the new port no later than the status announces it', async (t) => {
  const { client, ns } = await setup(t, 'hg-port');
  await client.create(performer(ns, 'web', { config: { grpcPort: 7000 } }));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  await client.patch(Performers, 'web', ns, { spec: { config: { grpcPort: 7100 } } });
  // After every reconcile of the upgrade, from the first (its new Pod just made, not Ready), the
  // port the status names is the one the Service carries. The first miss ends the wait.
  let reconciles = 0;
  let ahead: string | undefined;
  const p = await reconcileUntil(
    client,
    ns,
    'web',
    (p) => (ahead !== undefined || (p.status?.phase === 'Running' && p.status.observedGeneration === 2)) && p,
    'the upgrade to serve',
    {},
    async () => {
      reconciles++;
      const announced = (await client.get(Performers, 'web', ns)).status?.grpcEndpoint?.split(':')[1];
      const carried = (await client.get(Services, 'performer-web', ns)).spec?.ports?.map((p) => p.port);
      if (!isDeepStrictEqual(carried?.map(String), [announced]))
        ahead ??= `after reconcile ${reconciles} the status names port ${announced}, the Service carries ${carried}`;
    },
  );
  assert.equal(ahead, undefined);
  assert.equal(p.status?.phase, 'Running');
  assert.equal(p.status?.grpcEndpoint, `performer-web.${ns}.svc.cluster.local:7100`);
});

test('a Service whose ports someone edited carries the Performer’s port, and only it, again', async (t) => {
  const { client, ns } = await setup(t, 'hg-svcport');
  await client.create(performer(ns, 'web', { config: { grpcPort: 7000 } }));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  const ports = async () =>
    (await client.get(Services, 'performer-web', ns)).spec?.ports?.map((p) => [p.name, p.port, p.targetPort]);
  // Replaced whole, as `kubectl edit` does: another number, and a port beside it.
  await client.patch(Services, 'performer-web', ns, {
    spec: {
      ports: [
        { name: 'grpc', port: 7001, targetPort: 'grpc' },
        { name: 'debug', port: 6060, targetPort: 6060 },
      ],
    },
  });
  await waitFor(
    async () => {
      await reconcilePerformer(client, await client.get(Performers, 'web', ns));
      return isDeepStrictEqual(await ports(), [['grpc', 7000, 'grpc']]) || undefined;
    },
    { description: 'the Service to carry port 7000 alone again', timeoutMs: 30_000, intervalMs: 200 },
  );
  const p = await client.get(Performers, 'web', ns);
  assert.equal(p.status?.grpcEndpoint, `performer-web.${ns}.svc.cluster.local:7000`);
  assert.equal(p.status?.ready, true);
});

test('a Terminating status the role forbids is returned, not swallowed, and the deletion still completes', async (t) => {
  const { client, ns } = await setup(t, 'hg-fin403');
  await client.create(performer(ns, 'web'));
  await reconcileUntil(client, ns, 'web', (p) => p.status?.ready, 'the Performer to be ready');
  // A role with every call the deletion makes but the status write.
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'finalizer-only', namespace: ns },
    rules: [
      { apiGroups: ['hourglass.eigenlayer.io'], resources: ['performers'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods', 'services'], verbs: ['list', 'delete'] },
    ],
  } as Role & KubeObject);
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'finalizer-only', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'finalizer-only' },
    subjects: [{ kind: 'User', name: 'performer-finalizer', apiGroup: 'rbac.authorization.k8s.io' }],
  } as RoleBinding & KubeObject);
  const limited = client.impersonating({ user: 'performer-finalizer' });
  await client.delete(Performers, 'web', ns);
  const result = await waitFor(
    async () => {
      const p = await client.find(Performers, 'web', ns);
      // The binding takes a moment to hold: until then the Pods cannot even be listed.
      return p
        ? reconcilePerformer(limited, p).catch((e: unknown) =>
            e instanceof ForbiddenError ? undefined : Promise.reject(e),
          )
        : undefined;
    },
    { description: 'a finalize under the limited role', timeoutMs: 30_000, intervalMs: 200 },
  );
  assert.ok(result.statusFailure instanceof ForbiddenError, `a 403 returned, not ${result.statusFailure}`);
  assert.match(result.statusFailure.message, /performers\/status/);
  await waitFor(async () => !(await client.find(Performers, 'web', ns)), {
    description: 'the Performer to be gone without its Terminating status',
    timeoutMs: 30_000,
  });
});
