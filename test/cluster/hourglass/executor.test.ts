import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import {
  PERFORMER_FINALIZER,
  type Performer,
  Performers,
} from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { grpcEndpoint } from '../../../src/hourglass/desired-state.js';
import { KubernetesManager } from '../../../src/hourglass/executor/kubernetes-manager.js';
import { KubernetesPerformer } from '../../../src/hourglass/executor/kubernetes-performer.js';
import { startPerformerServer } from '../../../src/hourglass/grpc/performer-server.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { installCrds } from '../../../src/runtime/crds.js';
import type { Logger } from '../../../src/runtime/log.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { refuseDeletions } from './executor-support.js';
import { livePerformers } from './operator-support.js';

/** Writes a Performer's status as the operator does once its Pod is Ready. */
async function reportReady(client: KubeClient, ns: string, version: string): Promise<Performer> {
  const performer = await waitFor(
    async () =>
      (await client.list(Performers, { namespace: ns })).items.find((p) => p.spec.version === version),
    { description: `a Performer of version ${version} in ${ns}`, timeoutMs: 30_000 },
  );
  const name = performer.metadata!.name!;
  await client.applyStatus({
    apiVersion: performer.apiVersion,
    kind: performer.kind,
    metadata: { name, namespace: ns },
    status: {
      phase: 'Running',
      ready: true,
      podName: `performer-${name}`,
      serviceName: `performer-${name}`,
      grpcEndpoint: grpcEndpoint(performer),
    },
  } as Performer);
  return performer;
}

test('the Kubernetes manager: Performer CRUD with defaults', async (t) => {
  const client = await testClient(t, 'hourglass-executor');
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-mgr');
  const manager = new KubernetesManager(client, { namespace: ns });
  await manager.checkConnection();
  const created = await manager.createPerformer({
    name: 'p1',
    avsAddress: '0xAVS_1',
    image: 'img',
    version: 'v1',
  });
  assert.equal(created.metadata?.namespace, ns);
  assert.equal(created.spec.config?.grpcPort, 9090);
  assert.equal(created.metadata?.labels?.['hourglass.eigenlayer.io/avs'], '0xavs-1');
  await manager.createPerformer({ name: 'p2', avsAddress: '0xother', image: 'img' });
  assert.deepEqual(
    (await manager.listPerformers('0xAVS_1')).map((p) => p.metadata?.name),
    ['p1'],
  );
  const updated = await manager.updatePerformer('p1', { version: 'v2' });
  assert.equal(updated.spec.version, 'v2');
  // Created with the operator's finalizer, so a deletion waits for the operator, which this test
  // plays by hand.
  assert.deepEqual(created.metadata?.finalizers, [PERFORMER_FINALIZER]);
  assert.equal(await manager.deletePerformer('p1'), true);
  assert.ok((await manager.getPerformer('p1'))?.metadata?.deletionTimestamp);
  await client.patch(Performers, 'p1', ns, { metadata: { finalizers: null } });
  assert.equal(await manager.getPerformer('p1'), undefined);
  assert.equal(await manager.deletePerformer('p1'), false);
  await assert.rejects(
    manager.createPerformer({ name: 'p2', avsAddress: '0xa', image: 'img' }),
    new RegExp(`create Performer p2 in namespace ${ns}: .*already exists`),
  );
  await assert.rejects(
    new KubernetesManager(client, { namespace: 'no-such-ns', connectionTimeoutMs: 5000 }).createPerformer({
      name: 'x',
      avsAddress: '0xa',
      image: 'i',
    }),
    /create Performer x in namespace no-such-ns/,
  );
});

/** Writes a Performer's status as the operator does when it cannot run it, and goes on trying. */
async function reportDegraded(
  client: KubeClient,
  ns: string,
  version: string,
  reason: string,
  message: string,
) {
  const performer = await waitFor(
    async () =>
      (await client.list(Performers, { namespace: ns })).items.find((p) => p.spec.version === version),
    { description: `a Performer of version ${version} in ${ns}`, timeoutMs: 30_000 },
  );
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.applyStatus({
    apiVersion: performer.apiVersion,
    kind: performer.kind,
    metadata: { name: performer.metadata!.name!, namespace: ns },
    status: {
      phase: 'Pending',
      ready: false,
      conditions: [{ type: 'Degraded', status: 'True', reason, message, lastTransitionTime: at }],
    },
  } as Performer);
}

test('blue-green on reference performers: deploy, promote with a task in flight, rollback, one deploy at a time, shutdown', async (t) => {
  const client = await testClient(t, 'hourglass-executor');
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-exec');
  const v1 = await startPerformerServer({ port: 0, host: '127.0.0.1', behaviour: 'delay', delayMs: 1500 });
  const v2 = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => {
    v1.kill();
    v2.kill();
  });
  const ports: Record<string, number> = { v1: v1.port, v2: v2.port, v3: v2.port, v4: v2.port };
  const performer = new KubernetesPerformer({
    avsAddress: '0xAVS',
    manager: new KubernetesManager(client, { namespace: ns }),
    // Out of cluster: the performers are the reference servers on loopback.
    endpointResolver: (p) => `127.0.0.1:${ports[p.spec.version!]}`,
    grpc: { retry: { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 5000 } },
    readyTimeoutMs: 3000,
    pollIntervalMs: 50,
  });
  t.after(() => performer.shutdown());
  await assert.rejects(
    performer.runTask({ taskId: 'early', payload: '' }),
    /is not initialized|no performer/,
  );
  await performer.initialize();
  await assert.rejects(
    performer.runTask({ taskId: 'none', payload: '' }),
    /no performer is in service for 0xAVS/,
  );

  // First deploy: create → Ready (reported by the "operator") → promote.
  const first = performer.deploy({ image: 'ghcr.io/acme/perf', version: 'v1' });
  const r1 = await reportReady(client, ns, 'v1');
  const d1 = await first;
  assert.equal(d1.performerId, r1.metadata?.name);
  assert.equal(d1.replaced, undefined);
  assert.match(d1.performerId, /^0xavs-[0-9a-f]{8}$/);
  assert.deepEqual(
    performer.listPerformers().map((p) => [p.performerId, p.status, p.version, p.ready]),
    [[d1.performerId, 'InService', 'v1', true]],
  );

  // A task in flight on v1 while v2 is deployed: v1 is drained before it is removed.
  let taskDoneAt = 0;
  let deployDoneAt = 0;
  let tick = 0;
  const inFlight = performer.runTask({ taskId: 'slow', payload: 'on-v1' }).then((r) => {
    taskDoneAt = ++tick;
    return r;
  });
  await waitFor(() => v1.tasksInFlight === 1, { description: 'the task to reach v1', timeoutMs: 5000 });
  const second = performer.deploy({ image: 'ghcr.io/acme/perf', version: 'v2' }).then((r) => {
    deployDoneAt = ++tick;
    return r;
  });
  await reportReady(client, ns, 'v2');
  const d2 = await second;
  assert.equal((await inFlight).result.toString(), 'on-v1');
  assert.ok(
    taskDoneAt > 0 && taskDoneAt < deployDoneAt,
    'the old performer was drained before promotion finished',
  );
  assert.equal(d2.replaced, d1.performerId);
  assert.ok(!(await livePerformers(client, ns)).includes(d1.performerId), 'the old Performer is deleted');
  assert.equal((await performer.runTask({ taskId: 'next', payload: 'on-v2' })).result.toString(), 'on-v2');
  assert.equal(v2.tasksReceived, 1);

  // v3 never gets Ready, its Pod forbidden: rolled back, saying why; v2 still serves.
  const third = performer.deploy({ image: 'ghcr.io/acme/perf', version: 'v3' });
  await reportDegraded(client, ns, 'v3', 'FailedCreate', 'serviceaccount "runner" not found');
  await assert.rejects(
    third,
    /deploy of ghcr\.io\/acme\/perf v3 rolled back: performer 0xavs-[0-9a-f]+ did not become Ready: timed out.*\(last reported: FailedCreate: serviceaccount "runner" not found\)/,
  );
  assert.deepEqual(await livePerformers(client, ns), [d2.performerId]);
  assert.deepEqual(
    performer.listPerformers().map((p) => [p.performerId, p.status]),
    [[d2.performerId, 'InService']],
  );
  assert.equal((await performer.runTask({ taskId: 'still', payload: 'v2' })).result.toString(), 'v2');

  // One deploy at a time.
  const fourth = performer.deploy({ image: 'ghcr.io/acme/perf', version: 'v4' });
  await assert.rejects(
    performer.deploy({ image: 'ghcr.io/acme/perf', version: 'v5' }),
    /a deploy is already in progress/,
  );
  await assert.rejects(fourth, /rolled back/);

  // Shutdown drains and refuses new tasks, then removes the performers.
  await performer.shutdown();
  await assert.rejects(performer.runTask({ taskId: 'late', payload: '' }), /the performer is shut down/);
  assert.deepEqual(await livePerformers(client, ns), []);
});

test('runTask refuses while the executor drains for shutdown; the task in flight completes', async (t) => {
  const client = await testClient(t, 'hourglass-executor');
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-drain');
  const slow = await startPerformerServer({ port: 0, host: '127.0.0.1', behaviour: 'delay', delayMs: 1000 });
  t.after(() => slow.kill());
  const performer = new KubernetesPerformer({
    avsAddress: '0xdrain',
    manager: new KubernetesManager(client, { namespace: ns }),
    endpointResolver: () => `127.0.0.1:${slow.port}`,
    readyTimeoutMs: 20_000,
    pollIntervalMs: 50,
  });
  await performer.initialize();
  const deployed = performer.deploy({ image: 'img', version: 'v1' });
  await reportReady(client, ns, 'v1');
  await deployed;
  const task = performer.runTask({ taskId: 'in-flight', payload: 'done' });
  await waitFor(() => slow.tasksInFlight === 1, {
    description: 'the task to reach the performer',
    timeoutMs: 5000,
  });
  const stopping = performer.shutdown();
  await assert.rejects(performer.runTask({ taskId: 'refused', payload: '' }), /the performer is draining/);
  assert.equal((await task).result.toString(), 'done');
  await stopping;
  assert.deepEqual(await livePerformers(client, ns), []);
});

test('shutdown while a promotion drains the old performer: both end when its task does, not at the drain timeout', async (t) => {
  const client = await testClient(t, 'hourglass-executor');
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-overlap');
  // Slow enough that v2 is Ready and promoted, and shutdown called, while the task is on v1.
  const v1 = await startPerformerServer({ port: 0, host: '127.0.0.1', behaviour: 'delay', delayMs: 5000 });
  const v2 = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => {
    v1.kill();
    v2.kill();
  });
  const ports: Record<string, number> = { v1: v1.port, v2: v2.port };
  const performer = new KubernetesPerformer({
    avsAddress: '0xoverlap',
    manager: new KubernetesManager(client, { namespace: ns }),
    endpointResolver: (p) => `127.0.0.1:${ports[p.spec.version!]}`,
    readyTimeoutMs: 20_000,
    pollIntervalMs: 50,
    // Far beyond the task: a drain that waits it out was not told the task had finished.
    drainTimeoutMs: 15_000,
  });
  t.after(() => performer.shutdown());
  const warn = t.mock.method((performer as unknown as { log: Logger }).log, 'warn');
  await performer.initialize();
  const first = performer.deploy({ image: 'img', version: 'v1' });
  const id1 = (await reportReady(client, ns, 'v1')).metadata!.name!;
  await first;

  let tick = 0;
  const done: Record<string, number> = {};
  const task = performer.runTask({ taskId: 'slow', payload: 'on-v1' }).then((r) => {
    done['task'] = ++tick;
    return r;
  });
  await waitFor(() => v1.tasksInFlight === 1, { description: 'the task to reach v1', timeoutMs: 5000 });
  const second = performer.deploy({ image: 'img', version: 'v2' }).then((r) => {
    done['deploy'] = ++tick;
    return r;
  });
  await reportReady(client, ns, 'v2');
  await waitFor(
    () =>
      performer
        .listPerformers()
        .some((p) => p.performerId === id1 && p.status === 'Staged' && p.tasksInFlight === 1),
    { description: 'the promotion to drain v1', timeoutMs: 20_000 },
  );
  const stopping = performer.shutdown().then(() => {
    done['shutdown'] = ++tick;
  });
  assert.equal(v1.tasksInFlight, 1, 'shutdown began while the promotion was draining the task on v1');

  assert.equal((await task).result.toString(), 'on-v1');
  const d2 = await second;
  await stopping;
  assert.equal(d2.replaced, id1);
  assert.ok(done['task']! < done['deploy']! && done['task']! < done['shutdown']!, JSON.stringify(done));
  assert.deepEqual(
    warn.mock.calls.map((c) => c.arguments[1]).filter((m) => m === 'drain timed out'),
    [],
    'neither drain waited out its timeout',
  );
  assert.deepEqual(await livePerformers(client, ns), []);
});

/**
 * A KubernetesPerformer (one API attempt per call) in a namespace of its own, with v1 deployed
 * and in service on a reference performer server.
 */
async function deployedV1(t: TestContext, prefix: string, avsAddress: string) {
  const client = await testClient(t, 'hourglass-executor');
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, prefix);
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const performer = new KubernetesPerformer({
    avsAddress,
    manager: new KubernetesManager(client, { namespace: ns, retryAttempts: 1 }),
    endpointResolver: () => `127.0.0.1:${server.port}`,
    readyTimeoutMs: 20_000,
    pollIntervalMs: 50,
  });
  t.after(() => performer.shutdown());
  await performer.initialize();
  const first = performer.deploy({ image: 'img', version: 'v1' });
  const v1 = (await reportReady(client, ns, 'v1')).metadata!.name!;
  await first;
  return { client, ns, performer, v1 };
}

test('a performer whose rollback could not be removed does not block the next deploy', async (t) => {
  const { client, ns, performer, v1 } = await deployedV1(t, 'hg-leftover', '0xleft');

  // v2 cannot be pulled, and its rollback cannot delete it: it is left behind.
  const allowDeletions = await refuseDeletions(t, client, ns, v1);
  const second = performer.deploy({ image: 'img', version: 'v2' });
  await reportDegraded(client, ns, 'v2', 'ImagePullFailed', 'no such image');
  await assert.rejects(second, /rolled back: .*ImagePullFailed/);
  assert.equal((await performer.runTask({ taskId: 'still-v1', payload: 'x' })).result.toString(), 'x');

  // Once deletions work again, the next deploy goes through and the leftover is removed.
  await allowDeletions();
  const third = performer.deploy({ image: 'img', version: 'v3' });
  const v3 = (await reportReady(client, ns, 'v3')).metadata!.name!;
  const d3 = await third;
  assert.equal(d3.performerId, v3);
  assert.deepEqual(
    performer.listPerformers().map((p) => [p.performerId, p.status]),
    [[v3, 'InService']],
  );
  assert.deepEqual(await livePerformers(client, ns), [v3]);
});

test('a promotion whose old performer cannot be deleted yet is a deploy that succeeded', async (t) => {
  const { client, ns, performer, v1 } = await deployedV1(t, 'hg-undeleted', '0xold');

  // v2 becomes Ready and is promoted; only the removal of v1 fails.
  const allowDeletions = await refuseDeletions(t, client, ns, v1);
  const second = performer.deploy({ image: 'img', version: 'v2' });
  const v2 = (await reportReady(client, ns, 'v2')).metadata!.name!;
  const d2 = await second;
  assert.equal(d2.performerId, v2);
  assert.equal(performer.listPerformers().find((p) => p.status === 'InService')?.performerId, v2);

  // The next deploy removes v1 as well as v2.
  await allowDeletions();
  const third = performer.deploy({ image: 'img', version: 'v3' });
  const v3 = (await reportReady(client, ns, 'v3')).metadata!.name!;
  await third;
  assert.deepEqual(
    performer.listPerformers().map((p) => [p.performerId, p.status]),
    [[v3, 'InService']],
  );
  assert.deepEqual(await livePerformers(client, ns), [v3]);
});
