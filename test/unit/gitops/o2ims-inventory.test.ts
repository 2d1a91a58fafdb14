import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { buildAlarms } from '../../../src/gitops/o2ims/alarms.js';
import { buildInventory, totalResources } from '../../../src/gitops/o2ims/inventory.js';
import { InventoryServer } from '../../../src/gitops/o2ims/inventory-server.js';
import {
  inventoryChanges,
  inventoryObjects,
  newSubscription,
  type SubscriptionStore,
} from '../../../src/gitops/o2ims/subscriptions.js';
import { inventorySettings } from '../../../src/gitops/operator.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:05:00Z';

function node(
  name: string,
  extra: { conditions?: Record<string, string>; unschedulable?: boolean } = {},
): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: T0,
      labels: { 'topology.kubernetes.io/zone': 'zone-a', 'topology.kubernetes.io/region': 'eu' },
    },
    spec: extra.unschedulable
      ? {
          unschedulable: true,
          taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: T1 }],
        }
      : {},
    status: {
      nodeInfo: { architecture: 'amd64' } as never,
      capacity: { cpu: '4', memory: '16Gi', pods: '110' },
      allocatable: { cpu: '3500m', memory: '15Gi', pods: '110' },
      conditions: Object.entries(extra.conditions ?? { Ready: 'True' }).map(([type, status]) => ({
        type,
        status,
        lastTransitionTime: T1,
        reason: `${type}Reason`,
      })),
    },
  };
}

const source = (nodes: Node[]) => ({
  clusterId: 'cluster-1',
  name: 'edge1',
  serviceUri: 'http://o2ims/v1',
  kubernetesVersion: 'v1.37.2',
  apiServer: 'https://10.0.0.1:6443',
  nodes,
});

test('the deployment manager is the cluster: its API server, locations and summed capacity', () => {
  const inv = buildInventory(source([node('a'), node('b')]));
  assert.equal(inv.deploymentManagers.length, 1);
  const dm = inv.deploymentManagers[0]!;
  assert.equal(dm.oCloudId, inv.oCloud.oCloudId);
  assert.equal(dm.serviceUri, 'https://10.0.0.1:6443');
  assert.deepEqual(dm.supportedLocations, ['eu']);
  assert.deepEqual(dm.capacity.capacity, { cpu: '8', memory: '32Gi', pods: '220' });
  assert.deepEqual(dm.capacity.allocatable, { cpu: '7', memory: '30Gi', pods: '220' });
  assert.equal(dm.capabilities['kubernetesVersion'], 'v1.37.2');
  assert.equal(
    buildInventory(source([node('a')])).deploymentManagers[0]!.deploymentManagerId,
    dm.deploymentManagerId,
  );
});

test('totalResources keeps millicores and binary units, and names a bad quantity', () => {
  assert.deepEqual(
    totalResources([
      { cpu: '250m', memory: '512Mi' },
      { cpu: '500m', memory: '1536Mi' },
    ]),
    {
      cpu: '750m',
      memory: '2Gi',
    },
  );
  assert.throws(() => totalResources([{ cpu: 'lots' }]), /"lots" is not a resource quantity/);
});

test('node conditions raise alarms on their resource; a healthy node raises none', () => {
  const nodes = [
    node('healthy'),
    node('sick', { conditions: { Ready: 'False', MemoryPressure: 'True', DiskPressure: 'False' } }),
    node('cordoned', { unschedulable: true }),
  ];
  const inv = buildInventory(source(nodes));
  const alarms = buildAlarms(nodes, inv.resources);
  assert.deepEqual(
    alarms.map((a) => [a.extensions['nodeName'], a.alarmDefinitionID, a.perceivedSeverity]).sort(),
    [
      ['cordoned', 'NodeCordoned', 'WARNING'],
      ['sick', 'NodeMemoryPressure', 'MAJOR'],
      ['sick', 'NodeNotReady', 'CRITICAL'],
    ],
  );
  const notReady = alarms.find((a) => a.alarmDefinitionID === 'NodeNotReady')!;
  const sick = inv.resources.find((r) => r.description === 'sick')!;
  assert.equal(notReady.resourceID, sick.resourceId);
  assert.equal(notReady.resourceTypeID, sick.resourceTypeId);
  assert.equal(notReady.alarmRaisedTime, T1);
  assert.equal(notReady.alarmAcknowledged, false);
  assert.equal(notReady.extensions['reason'], 'ReadyReason');
  // The same condition gives the same id; a new occurrence a new one.
  assert.equal(buildAlarms(nodes, inv.resources)[0]!.alarmEventRecordId, alarms[0]!.alarmEventRecordId);
  const later = node('sick', { conditions: { Ready: 'False' } });
  later.status!.conditions![0]!.lastTransitionTime = '2026-01-02T00:00:00Z';
  assert.notEqual(buildAlarms([later], inv.resources)[0]!.alarmEventRecordId, notReady.alarmEventRecordId);
  // A node that never reported is not ready.
  const silent = node('sick', { conditions: {} });
  assert.deepEqual(
    buildAlarms([silent], inv.resources).map((a) => [a.alarmDefinitionID, a.extensions['status']]),
    [['NodeNotReady', 'Unknown']],
  );
});

test('tutti operator serves O2IMS only when --o2ims-port is set, and names a bad flag', () => {
  assert.equal(inventorySettings({}), undefined);
  assert.equal(inventorySettings({ 'o2ims-port': '' }), undefined);
  assert.deepEqual(
    inventorySettings({ 'o2ims-port': '8090', 'o2ims-host': '0.0.0.0', 'o2ims-name': 'edge7' }),
    {
      port: 8090,
      host: '0.0.0.0',
      name: 'edge7',
      notifyPeriodMs: 10_000,
    },
  );
  assert.throws(
    () => inventorySettings({ 'o2ims-port': '1', 'o2ims-notify-period': 'soon' }),
    /o2ims-notify-period/,
  );
  assert.throws(() => inventorySettings({ 'o2ims-port': 'http' }), /o2ims-port/);
  assert.throws(() => inventorySettings({ 'o2ims-port': '70000' }), /o2ims-port/);
  assert.throws(
    () => inventorySettings({ 'o2ims-port': '8090', 'o2ims-name': ' ' }),
    /--o2ims-name: must not be empty/,
  );
});

test('inventory changes: created, modified and deleted objects by their path in the API', () => {
  const a = buildInventory(source([node('a'), node('b')]));
  const b = buildInventory(source([node('a', { unschedulable: true }), node('c')]));
  const changes = inventoryChanges(inventoryObjects(a), inventoryObjects(b));
  const pool = a.resourcePools[0]!.resourcePoolId;
  const kinds = changes.map((c) => [c.type, c.objectRef.replace(pool, 'P').replace(/uid-/, '')]);
  assert.deepEqual(kinds, [
    [1, '/resourcePools/P'],
    [1, '/resourcePools/P/resources/a'],
    [2, '/resourcePools/P/resources/b'],
    [0, '/resourcePools/P/resources/c'],
  ]);
  assert.equal(inventoryChanges(inventoryObjects(a), inventoryObjects(a)).length, 0);
});

test('a subscription needs an http(s) callback; unknown fields and filters are named', () => {
  const s = newSubscription({ callback: 'https://smo.example/notify', consumerSubscriptionId: 'c1' });
  assert.match(s.subscriptionId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...s, subscriptionId: 'x' },
    {
      subscriptionId: 'x',
      consumerSubscriptionId: 'c1',
      callback: 'https://smo.example/notify',
    },
  );
  assert.throws(() => newSubscription([]), /^SubscriptionError: \(body\): must be a JSON object/);
  assert.throws(() => newSubscription({ callback: 'mailto:x@y' }), /callback: must be an http or https URL/);
  assert.throws(() => newSubscription({ callback: 'http://x', filter: 'f' }), /filter: is not supported/);
  assert.throws(
    () => newSubscription({ callback: 'http://x', consumerSubscriptionId: 7 }),
    /consumerSubscriptionId/,
  );
});

test('a malformed percent-escape in a path is a 400 ProblemDetails naming the segment, not a 503', async (t) => {
  // Never reached: the path is refused before the cluster is read.
  const server = new InventoryServer({} as KubeClient, { name: 'edge1' });
  const port = await server.start(0);
  t.after(() => server.stop());
  for (const path of [
    '/o2ims-infrastructureInventory/v1/resourcePools/%E0',
    '/o2ims-infrastructureInventory/v1/resourcePools/pool/resources/bad%E0id',
    '/o2ims-infrastructureMonitoring/v1/alarms/%E0%A4',
  ]) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal(res.status, 400, path);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const body = (await res.json()) as { title: string; status: number; detail: string; instance: string };
    const segment = path.split('/').at(-1);
    assert.deepEqual(body, {
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: `path segment "${segment}" is not a valid percent-encoded path segment`,
      instance: path,
    });
  }
});

test('stopping the inventory server lets a subscription under way be created and answered, not cut', async (t) => {
  let reach = () => {};
  let finish = () => {};
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const subscriptions = {
    create: () => {
      reach();
      return new Promise<void>((resolve) => (finish = resolve));
    },
  } as unknown as SubscriptionStore;
  // The cluster is never read: a subscription is created from the body alone.
  const server = new InventoryServer({} as KubeClient, { name: 'edge1', subscriptions });
  const port = await server.start(0);
  t.after(() => server.stop(0));
  const url = `http://127.0.0.1:${port}/o2ims-infrastructureInventory/v1/subscriptions`;
  const subscribing = fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ callback: 'http://smo.example/notify' }),
  });
  await reached;
  const stopped = server.stop();
  await assert.rejects(fetch(url), 'a stopping server accepts no new connection');
  finish();
  assert.equal((await subscribing).status, 201);
  await stopped;
});
