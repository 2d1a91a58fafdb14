import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { dedicatedControlPlane, testNamespace } from '../../support/cluster.js';
import { compactEtcd } from './fixtures/etcd.js';
import { faultInjected } from './fixtures/fault-injecting-proxy.js';

test('listAll whose continue token expires between pages lists everything at once instead', async (t) => {
  // Compaction and an API server restart: on a plane of its own.
  const plane = await dedicatedControlPlane(t, 'client-list');
  if (!plane) return;
  const client = await KubeClient.load(plane.kubeconfigPath, { fieldManager: 'tutti-test' });
  t.after(() => client.close());
  const ns = await testNamespace(t, client);
  const names = Array.from({ length: 7 }, (_, i) => `cm-${i}`);
  for (const name of names) {
    await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } });
  }

  const { proxy, kubeconfig } = await faultInjected(t, plane.kubeconfigPath);
  const paging = await KubeClient.load(kubeconfig);
  t.after(() => paging.close());
  const continues = (r: { url: string }) => r.url.includes('continue=');
  // Before the second page: a change past the first page's snapshot, history compacted away,
  // and the API server restarted, so that its cache does not hold the snapshot either.
  proxy.before(continues, async () => {
    await client.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm-late', namespace: ns },
    });
    await plane.stopComponent('kube-apiserver');
    await compactEtcd(await plane.etcdUrl());
    await plane.startComponent('kube-apiserver');
  });

  const all = await paging.listAll(ConfigMaps, { namespace: ns, limit: 3 });
  const listed = all.items.map((c) => c.metadata?.name).filter((n) => n?.startsWith('cm-'));
  assert.deepEqual(listed.sort(), [...names, 'cm-late'].sort());
  assert.equal(proxy.count(continues), 1, 'one continued page, which expired');
  const last = proxy.seen.at(-1)!;
  assert.ok(!last.url.includes('limit=') && !last.url.includes('continue='), `then a full list: ${last.url}`);
});
