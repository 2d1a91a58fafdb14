import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  ResourceInfo,
  ResourcePoolInfo,
  ResourceTypeInfo,
} from '../../../src/gitops/o2ims/inventory.js';
import { INVENTORY_PREFIX, InventoryServer } from '../../../src/gitops/o2ims/inventory-server.js';
import { Namespaces, Nodes } from '../../../src/runtime/client/kinds.js';
import { testClient } from '../../support/cluster.js';

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
  const post = await fetch(`${base}/v1/resourcePools`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});
