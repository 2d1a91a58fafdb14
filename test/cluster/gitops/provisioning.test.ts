import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  bundleCrds,
  type CNBundle,
  CNBundles,
  type RANBundle,
  RANBundles,
} from '../../../src/apis/nephio/bundles.js';
import {
  type ProvisioningRequest,
  ProvisioningRequests,
  provisioningRequestCrd,
} from '../../../src/apis/o2ims/provisioning-request.js';
import { BUNDLE_FINALIZER, provisioningRequestName } from '../../../src/gitops/o2ims/bundle-controller.js';
import { PROVISIONING_FINALIZER } from '../../../src/gitops/o2ims/provisioning-controller.js';
import { expectationBundle } from '../../../src/gitops/render.js';
import { translateIntent } from '../../../src/gitops/translate.js';
import { Deployments, Services } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { startEdgeControllers } from './support.js';

function bundlesOf(intent: Record<string, unknown>, namespace: string) {
  return translateIntent(intent).map((e) => {
    const b = expectationBundle(e);
    b.metadata.namespace = namespace;
    return b;
  });
}

test('bundles become ProvisioningRequests, fulfilled by Ready workloads, and clean up on delete', async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  await installCrds(client, [...bundleCrds(), provisioningRequestCrd()]);
  const ns = await testNamespace(t, client, 'bundles');
  const site = await testNamespace(t, client, 'site');
  await startEdgeControllers(t, client, { namespace: ns, siteNamespace: site });

  const id = `prov-${randomBytes(3).toString('hex')}`;
  const [cn, ran] = bundlesOf(
    { id, intent: 'stadium', requirements: { latency: '<5ms', userThroughput: '>100Mbps' } },
    ns,
  ) as [CNBundle, RANBundle];
  await client.apply(cn);
  await client.apply(ran);

  const ready = await waitFor(
    async () => {
      const b = await client.get(CNBundles, cn.metadata.name!, ns);
      return b.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') && b;
    },
    { description: `CNBundle ${cn.metadata.name} to become Ready`, timeoutMs: 90_000 },
  );
  assert.equal(ready.status!.conditions![0]!.reason, 'Ready');
  assert.equal(ready.status!.observedGeneration, ready.metadata.generation);
  assert.ok(ready.metadata.finalizers?.includes(BUNDLE_FINALIZER));
  const prName = provisioningRequestName(ready);
  assert.equal(ready.status!.provisioningRequest, prName);

  const pr = await client.get(ProvisioningRequests, prName);
  assert.equal(pr.spec.templateName, 'cn-bundle');
  assert.equal(pr.spec.templateVersion, 'v1');
  assert.deepEqual(pr.spec.templateParameters['targets'], {
    latency: { condition: 'LESS_THAN', value: '5ms' },
  });
  const ps = pr.status!.provisioningStatus!;
  assert.equal(ps.provisioningState, 'fulfilled');
  assert.equal(ps.provisioningDetails, `2 objects ready in namespace ${site} (Deployment, Service)`);
  assert.equal(pr.status!.observedGeneration, pr.metadata.generation);
  assert.ok(ps.updateTime);
  assert.equal(ps.provisionedResourceSet!.namespace, site);
  const workload = `${id}-cn-cap-001-stadium`;
  assert.deepEqual(ps.provisionedResourceSet!.resources, [`Deployment/${workload}`, `Service/${workload}`]);
  assert.deepEqual(
    pr.status!.conditions!.map((c) => [c.type, c.status]),
    [
      ['Validated', 'True'],
      ['Provisioned', 'True'],
    ],
  );
  const deployment = await client.get(Deployments, workload, site);
  assert.equal(deployment.status?.availableReplicas, 1);
  assert.deepEqual(
    deployment.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === 'TARGET_LATENCY'),
    { name: 'TARGET_LATENCY', value: 'LESS_THAN 5ms' },
  );
  assert.equal(deployment.metadata!.ownerReferences![0]!.name, prName);

  // The RAN bundle gets its two default network functions.
  await waitFor(
    async () =>
      (await client.get(RANBundles, ran.metadata.name!, ns)).status?.conditions?.[0]?.reason === 'Ready',
    { description: `RANBundle ${ran.metadata.name} to become Ready`, timeoutMs: 90_000 },
  );
  assert.ok(await client.get(Deployments, `${id}-ran-perf-001-gnb-cu`, site));
  assert.ok(await client.get(Deployments, `${id}-ran-perf-001-gnb-du`, site));

  // A spec change reaches the request and its workloads; Ready follows the new generation.
  cn.spec.networkSlices = ['stadium', 'press'];
  await client.apply(cn);
  await waitFor(
    async () => {
      const b = await client.get(CNBundles, cn.metadata.name!, ns);
      const c = b.status?.conditions?.[0];
      return b.metadata.generation === 2 && c?.observedGeneration === 2 && c.reason === 'Ready';
    },
    { description: 'CNBundle generation 2 to become Ready', timeoutMs: 90_000 },
  );
  assert.ok(await client.get(Deployments, `${id}-cn-cap-001-press`, site));

  // Deleting the bundle deletes its request and the workloads before the bundle goes.
  await client.delete(CNBundles, cn.metadata.name!, ns);
  await waitFor(async () => !(await client.find(CNBundles, cn.metadata.name!, ns)), {
    description: `CNBundle ${cn.metadata.name} to be deleted`,
    timeoutMs: 60_000,
  });
  assert.equal(await client.find(ProvisioningRequests, prName), undefined);
  for (const name of [workload, `${id}-cn-cap-001-press`]) {
    assert.equal(await client.find(Deployments, name, site), undefined);
    assert.equal(await client.find(Services, name, site), undefined);
  }
  await client.delete(RANBundles, ran.metadata.name!, ns);
  await waitFor(async () => !(await client.find(RANBundles, ran.metadata.name!, ns)), {
    description: `RANBundle ${ran.metadata.name} to be deleted`,
    timeoutMs: 60_000,
  });
});

test('bad templates and parameters fail the request with the reason, and the bundle says so', async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  await installCrds(client, [...bundleCrds(), provisioningRequestCrd()]);
  const ns = await testNamespace(t, client, 'bundles');
  const site = await testNamespace(t, client, 'site');
  const name = `bad-template-${randomBytes(3).toString('hex')}`;
  await startEdgeControllers(t, client, { namespace: ns, siteNamespace: site, requests: () => [name] });
  await client.create<ProvisioningRequest>({
    apiVersion: 'o2ims.provisioning.oran.org/v1alpha1',
    kind: 'ProvisioningRequest',
    metadata: { name },
    spec: { templateName: 'cn-bundle', templateVersion: 'v9', templateParameters: {} },
  });
  const failed = await waitFor(
    async () => {
      const pr = await client.get(ProvisioningRequests, name);
      return pr.status?.provisioningStatus?.provisioningState === 'failed' && pr;
    },
    { description: `ProvisioningRequest ${name} to fail`, timeoutMs: 60_000 },
  );
  assert.match(
    failed.status!.provisioningStatus!.provisioningDetails!,
    /spec\.templateVersion: template cn-bundle has no version "v9"/,
  );
  assert.equal(failed.status!.conditions![0]!.reason, 'TemplateNotFound');
  assert.ok(failed.metadata.finalizers?.includes(PROVISIONING_FINALIZER));

  // A bundle with no network slices: nothing to provision, and its Ready says why.
  const id = `fail-${randomBytes(3).toString('hex')}`;
  const [cn] = bundlesOf({ id, intent: 'empty', requirements: { latency: '<5ms' } }, ns) as [CNBundle];
  cn.spec.networkSlices = [];
  await client.apply(cn);
  const notReady = await waitFor(
    async () => {
      const c = (await client.get(CNBundles, cn.metadata.name!, ns)).status?.conditions?.[0];
      return c?.reason === 'ProvisioningFailed' && c;
    },
    { description: 'the bundle to report its request failed', timeoutMs: 60_000 },
  );
  assert.equal(notReady.status, 'False');
  assert.match(notReady.message, /spec\.templateParameters\.members: must list at least one member/);
});
