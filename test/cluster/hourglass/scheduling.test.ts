import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Performer, Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { buildPerformerPod } from '../../../src/hourglass/desired-state.js';
import { hostingCheck } from '../../../src/hourglass/hardware.js';
import { Nodes, Pods } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';

test('a performer asking for GPUs lands on the GPU node; one asking for a TEE has nowhere to go', async (t) => {
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-sched');
  const nodes = (await client.list(Nodes)).items;

  const gpu = await client.create<Performer>({
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name: 'gpu', namespace: ns },
    spec: {
      avsAddress: '0xabc',
      image: 'ghcr.io/acme/performer',
      version: 'v1',
      hardwareRequirements: { gpuCount: 2 },
    },
  });
  const pod = buildPerformerPod(gpu);
  assert.equal(hostingCheck(pod, nodes).hostable, true);
  await client.create(pod);
  const running = await waitFor(
    async () => {
      const p = await client.get(Pods, 'performer-gpu', ns);
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
    },
    { description: 'the GPU performer Pod to be Ready', timeoutMs: 60_000 },
  );
  assert.equal(running.spec?.nodeName, 'tutti-gpu-0');
  assert.equal(running.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'], '2');

  const tee = await client.create<Performer>({
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name: 'tee', namespace: ns },
    spec: { avsAddress: '0xabc', image: 'img', hardwareRequirements: { teeRequired: true, teeType: 'sgx' } },
  });
  const check = hostingCheck(buildPerformerPod(tee), nodes);
  assert.equal(check.hostable, false);
  assert.match(
    check.message,
    /^0\/4 nodes can host the performer: 4 lacks label intel\.feature\.node\.kubernetes\.io\/sgx=true/,
  );
  assert.ok(await client.find(Performers, 'tee', ns));
});
