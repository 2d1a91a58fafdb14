import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import type { AlarmEventRecord } from '../../../src/gitops/o2ims/alarms.js';
import type {
  DeploymentManagerInfo,
  ResourceInfo,
  ResourcePoolInfo,
  ResourceTypeInfo,
} from '../../../src/gitops/o2ims/inventory.js';
import {
  INVENTORY_PREFIX,
  InventoryServer,
  MONITORING_PREFIX,
} from '../../../src/gitops/o2ims/inventory-server.js';
import { startInventory } from '../../../src/gitops/o2ims/serve.js';
import {
  type InventoryChangeNotification,
  InventoryNotifier,
  type SubscriptionInfo,
  SubscriptionStore,
} from '../../../src/gitops/o2ims/subscriptions.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Namespaces, Nodes } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { dedicatedControlPlane, testClient, testNamespace } from '../../support/cluster.js';

/** A subscriber: a local HTTP server collecting the notifications it is sent at `callback`. */
async function subscriber(t: TestContext) {
  const received: InventoryChangeNotification[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as InventoryChangeNotification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  return { received, callback: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify` };
}

test('the O2IMS inventory API serves the O-Cloud, resource pools and resources built from the nodes', async (t) => {
  const client = await testClient(t);
  const server = new InventoryServer(client, { name: 'edge1' });
  const port = await server.start(0);
  t.after(() => server.stop());
  const base = `http://127.0.0.1:${port}${INVENTORY_PREFIX}`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as never };
  };

  const versions = await get('/api_versions');
  assert.deepEqual(versions.body, {
    uriPrefix: `${INVENTORY_PREFIX}/v1`,
    apiVersions: [{ version: '1.0.0' }],
  });

  const kubeSystem = await client.get(Namespaces, 'kube-system');
  const ocloud = (await get('/v1')).body as { oCloudId: string; globalCloudId: string; name: string };
  assert.equal(ocloud.globalCloudId, kubeSystem.metadata!.uid);
  assert.equal(ocloud.name, 'edge1');

  // The cluster is the deployment manager: its API server, and the nodes' capacity summed.
  const managers = (await get('/v1/deploymentManagers')).body as DeploymentManagerInfo[];
  assert.equal(managers.length, 1);
  const dm = managers[0]!;
  assert.equal(dm.oCloudId, ocloud.oCloudId);
  assert.equal(new URL(dm.serviceUri).origin, client.transport.connection.server.origin);
  const nodes = (await client.listAll(Nodes)).items;
  assert.equal(dm.extensions['nodes'], nodes.length);
  assert.equal(
    Number(dm.capacity.capacity['nvidia.com/gpu']),
    nodes.reduce((n, x) => n + Number(x.status?.capacity?.['nvidia.com/gpu'] ?? 0), 0),
  );
  assert.deepEqual((await get(`/v1/deploymentManagers/${dm.deploymentManagerId}`)).body, dm);
  assert.equal((await get('/v1/deploymentManagers/nope')).status, 404);

  const pools = (await get('/v1/resourcePools')).body as ResourcePoolInfo[];
  const general = pools.find((p) => p.name === 'general');
  const gpu = pools.find((p) => p.name === 'gpu');
  assert.ok(general && gpu, `pools general and gpu, got ${pools.map((p) => p.name).join(', ')}`);
  assert.equal(general.oCloudId, ocloud.oCloudId);
  assert.equal(general.location, 'zone-a,zone-b,zone-c');
  assert.equal(general.globalLocationId, 'local');
  assert.deepEqual((await get(`/v1/resourcePools/${gpu.resourcePoolId}`)).body, gpu);

  const workers = (await get(`/v1/resourcePools/${general.resourcePoolId}/resources`)).body as ResourceInfo[];
  const names = workers.map((r) => r.description);
  for (const n of ['tutti-worker-0', 'tutti-worker-1', 'tutti-worker-2']) assert.ok(names.includes(n), n);
  const node = await client.get(Nodes, 'tutti-worker-1');
  const w1 = workers.find((r) => r.description === 'tutti-worker-1')!;
  assert.equal(w1.resourceId, node.metadata!.uid);
  assert.equal(w1.resourcePoolId, general.resourcePoolId);
  assert.equal((w1.extensions as { ready: boolean }).ready, true);
  assert.deepEqual(
    (await get(`/v1/resourcePools/${general.resourcePoolId}/resources/${w1.resourceId}`)).body,
    w1,
  );

  const [gpuNode] = (await get(`/v1/resourcePools/${gpu.resourcePoolId}/resources`)).body as ResourceInfo[];
  assert.equal(gpuNode!.description, 'tutti-gpu-0');
  assert.equal((gpuNode!.extensions as { capacity: Record<string, string> }).capacity['nvidia.com/gpu'], '8');
  const gpuType = (await get(`/v1/resourceTypes/${gpuNode!.resourceTypeId}`)).body as ResourceTypeInfo;
  assert.equal(gpuType.vendor, 'NVIDIA');
  assert.equal(gpuType.model, 'NVIDIA-A100-SXM4-80GB');
  assert.equal(gpuType.resourceClass, 'COMPUTE');
  assert.notEqual(gpuType.resourceTypeId, w1.resourceTypeId);
  const types = (await get('/v1/resourceTypes')).body as ResourceTypeInfo[];
  assert.ok(types.some((x) => x.resourceTypeId === w1.resourceTypeId));

  // Unknown ids and routes are 404 ProblemDetails naming what was missing; writes are refused.
  const missing = await get(`/v1/resourcePools/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.type, 'application/problem+json');
  assert.match((missing.body as { detail: string }).detail, /resource pool nope not found/);
  assert.equal((await get(`/v1/resourcePools/${general.resourcePoolId}/resources/nope`)).status, 404);
  assert.equal((await get('/v1/deploymentManagerz')).status, 404);
  const filtered = await get('/v1/resourcePools?filter=(eq,name,gpu)');
  assert.equal(filtered.status, 400);
  assert.match((filtered.body as { detail: string }).detail, /query parameter filter is not supported/);
  const post = await fetch(`${base}/v1/resourcePools`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

test('the O2IMS monitoring API raises alarms from node conditions and clears them with the condition', async (t) => {
  // Its own plane: the test adds a failing node, which the shared plane's other tests must not see.
  const plane = await dedicatedControlPlane(t, 'o2ims-alarms');
  if (!plane) return;
  const client = await KubeClient.load(plane.kubeconfigPath, { fieldManager: 'tutti-test' });
  t.after(() => client.close());
  const server = new InventoryServer(client, { name: 'edge1' });
  const port = await server.start(0);
  t.after(() => server.stop());
  const base = `http://127.0.0.1:${port}${MONITORING_PREFIX}`;
  const alarms = async () => (await (await fetch(`${base}/v1/alarms`)).json()) as AlarmEventRecord[];
  assert.deepEqual(await alarms(), [], 'the simulated nodes are healthy');

  // A node no simulated kubelet manages, reporting memory pressure and not Ready, cordoned.
  await client.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'failing-0', labels: { 'tutti.dev/pool': 'failing' } },
    spec: { unschedulable: true },
  });
  const now = new Date().toISOString();
  await client.patch(
    Nodes,
    'failing-0',
    undefined,
    {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'KubeletNotReady',
            lastTransitionTime: now,
            lastHeartbeatTime: now,
          },
          {
            type: 'MemoryPressure',
            status: 'True',
            reason: 'KubeletHasInsufficientMemory',
            lastTransitionTime: now,
            lastHeartbeatTime: now,
          },
        ],
      },
    },
    'strategic',
    'status',
  );
  const raised = await waitFor(
    async () => {
      const a = await alarms();
      return a.length >= 3 && a;
    },
    { description: 'alarms for node failing-0', timeoutMs: 30_000 },
  );
  assert.deepEqual(raised.map((a) => a.alarmDefinitionID).sort(), [
    'NodeCordoned',
    'NodeMemoryPressure',
    'NodeNotReady',
  ]);
  const node = await client.get(Nodes, 'failing-0');
  assert.ok(
    raised.every((a) => a.resourceID === node.metadata!.uid && a.extensions['nodeName'] === 'failing-0'),
  );
  const pressure = raised.find((a) => a.alarmDefinitionID === 'NodeMemoryPressure')!;
  assert.equal(pressure.perceivedSeverity, 'MAJOR');
  assert.deepEqual(await (await fetch(`${base}/v1/alarms/${pressure.alarmEventRecordId}`)).json(), pressure);
  const resource = (await (
    await fetch(
      `http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1/resourcePools/${pressure.extensions['resourcePoolId']}/resources/${pressure.resourceID}`,
    )
  ).json()) as ResourceInfo;
  assert.equal(resource.description, 'failing-0');

  // Uncordoned and the pressure gone: those alarms clear.
  await client.patch(Nodes, 'failing-0', undefined, { spec: { unschedulable: false } });
  await client.patch(
    Nodes,
    'failing-0',
    undefined,
    {
      status: {
        conditions: [
          { type: 'MemoryPressure', status: 'False', lastTransitionTime: new Date().toISOString() },
        ],
      },
    },
    'strategic',
    'status',
  );
  await waitFor(
    async () => {
      const a = await alarms();
      return a.length > 0 && a.every((x) => x.alarmDefinitionID === 'NodeNotReady');
    },
    { description: 'only NodeNotReady to remain', timeoutMs: 30_000 },
  );
  assert.equal((await fetch(`${base}/v1/alarms/nope`)).status, 404);
  assert.equal((await fetch(`${base}/v1/alarmz`)).status, 404);
});

test('O2IMS as the operator serves it: every replica serves, the leader notifies; a taken port fails its start', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'o2ims');
  const log = pino({ level: 'silent' });
  const settings = { port: 0, host: '127.0.0.1', name: 'edge9', namespace: ns, notifyPeriodMs: 60_000 };
  const { port, runnables } = await startInventory(client, settings, log);
  const stop = new AbortController();
  const running = Promise.all(runnables.map((r) => r.start(stop.signal)));
  t.after(async () => {
    stop.abort();
    await running;
  });
  assert.deepEqual(
    runnables.map((r) => [r.name, r.needLeaderElection ?? true]),
    [
      ['o2ims-server', false],
      ['o2ims-notifier', true],
    ],
  );
  const ocloud = (await (await fetch(`http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1`)).json()) as {
    name: string;
  };
  assert.equal(ocloud.name, 'edge9');
  assert.equal((await fetch(`http://127.0.0.1:${port}${MONITORING_PREFIX}/v1/alarms`)).status, 200);
  await assert.rejects(
    startInventory(client, { ...settings, port }, log),
    new RegExp(`O2IMS cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
  );
  stop.abort();
  await running;
  await assert.rejects(fetch(`http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1`));
});

test('inventory subscriptions: created, listed, refused when bad, notified of a node change, deleted', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'o2ims');
  const store = new SubscriptionStore(client, ns);
  const server = new InventoryServer(client, { name: 'edge1', subscriptions: store });
  const port = await server.start(0);
  t.after(() => server.stop());
  const base = `http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1/subscriptions`;
  const post = (body: unknown) =>
    fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const { received, callback } = await subscriber(t);

  for (const [body, field] of [
    [{}, 'callback'],
    [{ callback: 'not a url' }, 'callback'],
    [{ callback: 'ftp://x/y' }, 'callback'],
    [{ callback, filter: '(eq,resourcePoolId,x)' }, 'filter'],
    [{ callback, color: 'red' }, 'color'],
  ] as const) {
    const r = await post(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(((await r.json()) as { detail: string }).detail, new RegExp(`^${field}: `));
  }
  const created = await post({ callback, consumerSubscriptionId: 'smo-42' });
  assert.equal(created.status, 201);
  const sub = (await created.json()) as SubscriptionInfo;
  assert.equal(created.headers.get('location'), `${INVENTORY_PREFIX}/v1/subscriptions/${sub.subscriptionId}`);
  assert.deepEqual(await (await fetch(`${base}/${sub.subscriptionId}`)).json(), sub);
  assert.deepEqual(await (await fetch(base)).json(), [sub]);
  const put = await fetch(`${base}/${sub.subscriptionId}`, { method: 'PUT', body: '{}' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, DELETE');

  // A node's labels change: the subscriber hears of its resource being modified.
  const notifier = new InventoryNotifier({
    inventory: () => server.inventory(),
    store,
    log: pino({ level: 'silent' }),
  });
  await notifier.check();
  const label = `o2ims-test.tutti.dev/${ns}`;
  await client.patch(Nodes, 'tutti-worker-2', undefined, { metadata: { labels: { [label]: 'yes' } } });
  t.after(() =>
    client.patch(Nodes, 'tutti-worker-2', undefined, { metadata: { labels: { [label]: null } } }),
  );
  const node = await client.get(Nodes, 'tutti-worker-2');
  await waitFor(
    async () => {
      await notifier.check();
      return received.find(
        (n) => n.objectRef.endsWith(`/resources/${node.metadata!.uid}`) && hasLabel(n.postObjectState, label),
      );
    },
    { description: 'a MODIFY notification for tutti-worker-2', timeoutMs: 30_000 },
  );
  const modified = received.find((n) => hasLabel(n.postObjectState, label))!;
  assert.equal(modified.notificationEventType, 1);
  assert.equal(modified.subscriptionId, sub.subscriptionId);
  assert.equal(modified.consumerSubscriptionId, 'smo-42');
  assert.ok(!hasLabel(modified.priorObjectState, label), 'the prior state is from before the change');
  const resource = (await (
    await fetch(`http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1${modified.objectRef}`)
  ).json()) as ResourceInfo;
  assert.equal(resource.description, 'tutti-worker-2', "objectRef is the object's path in the API");

  // Deleted: gone from the API, and told nothing more.
  assert.equal((await fetch(`${base}/${sub.subscriptionId}`, { method: 'DELETE' })).status, 204);
  assert.equal((await fetch(`${base}/${sub.subscriptionId}`)).status, 404);
  assert.equal((await fetch(`${base}/${sub.subscriptionId}`, { method: 'DELETE' })).status, 404);
  const before = received.length;
  await client.patch(Nodes, 'tutti-worker-2', undefined, { metadata: { labels: { [label]: 'again' } } });
  await waitFor(
    async () => (await client.get(Nodes, 'tutti-worker-2')).metadata?.labels?.[label] === 'again',
    {
      description: 'the label change to be visible',
      timeoutMs: 10_000,
    },
  );
  assert.equal(await notifier.check(), 0, 'no subscription, no delivery');
  assert.equal(received.length, before);
});

function hasLabel(state: unknown, label: string): boolean {
  const labels = (state as { extensions?: { labels?: Record<string, string> } } | undefined)?.extensions
    ?.labels;
  return labels?.[label] !== undefined;
}

test('tutti operator --module gitops --o2ims-port serves O2IMS until it is stopped', async (t) => {
  // Its own plane: the operator's edge controllers act on every bundle of the cluster they run on.
  const plane = await dedicatedControlPlane(t, 'o2ims-operator');
  if (!plane) return;
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const tutti = join(import.meta.dirname, '../../../bin/tutti.js');
  const child = spawn(
    process.execPath,
    [
      tutti,
      'operator',
      '--module',
      'gitops',
      '--o2ims-port',
      String(port),
      '--o2ims-host',
      '127.0.0.1',
      '--o2ims-name',
      'edge-op',
      '--health-port',
      '0',
      '--kubeconfig',
      plane.kubeconfigPath,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  const ocloud = await waitFor(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`the operator exited ${child.exitCode}: ${stderr.slice(-2000)}`);
      const res = await fetch(`http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1`).catch(() => undefined);
      return res?.ok && ((await res.json()) as { name: string });
    },
    { description: `the operator's O2IMS API on port ${port}`, timeoutMs: 60_000 },
  );
  assert.equal(ocloud.name, 'edge-op');
  // Stopped once it runs: a SIGTERM before its caches sync calls the start off (exit 130).
  await waitFor(() => stderr.includes('"msg":"operator running"'), {
    description: 'the operator to say it runs',
    timeoutMs: 60_000,
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr.slice(-2000));
  await assert.rejects(fetch(`http://127.0.0.1:${port}${INVENTORY_PREFIX}/v1`));
});

test('a change seen while the subscriptions cannot be read is notified at the next check, not dropped', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'o2ims-blip');
  let failList = false;
  const blipping = new Proxy(client, {
    get(target, property) {
      if (property === 'listAll' && failList)
        return async () => {
          failList = false;
          throw new Error('the API server did not answer');
        };
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const store = new SubscriptionStore(blipping, ns);
  const server = new InventoryServer(client, { name: 'edge1', subscriptions: store });
  const { received, callback } = await subscriber(t);
  await store.create({ subscriptionId: 'blip', callback });
  const notifier = new InventoryNotifier({
    inventory: () => server.inventory(),
    store,
    log: pino({ level: 'silent' }),
  });
  await notifier.check();

  const label = `o2ims-test.tutti.dev/${ns}`;
  await client.patch(Nodes, 'tutti-worker-2', undefined, { metadata: { labels: { [label]: 'yes' } } });
  t.after(() =>
    client.patch(Nodes, 'tutti-worker-2', undefined, { metadata: { labels: { [label]: null } } }),
  );
  // The change is seen while listing the subscriptions fails.
  await waitFor(
    async () =>
      hasLabel(
        (await server.inventory()).resources.find((r) => r.description === 'tutti-worker-2'),
        label,
      ),
    { description: 'the label change in the inventory', timeoutMs: 10_000 },
  );
  failList = true;
  await assert.rejects(notifier.check(), /did not answer/);

  await notifier.check();
  assert.ok(
    received.some((n) => n.notificationEventType === 1 && hasLabel(n.postObjectState, label)),
    'the subscriber hears of the modified resource',
  );
});
