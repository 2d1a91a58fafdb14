import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { toNetworkIntent } from '../../../src/conductor/intent.js';
import { submitNetworkIntent } from '../../../src/conductor/submit.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { faultInjected, type SeenRequest } from '../runtime/fixtures/fault-injecting-proxy.js';

test('a NetworkIntent deleted between the create that met it and the read is created again', async (t) => {
  const admin = await testClient(t);
  await installCrds(admin, conductorCrds());
  const ns = await testNamespace(t, admin, 'submit-gone');
  const ni = toNetworkIntent({ intent_type: 'scaling', target: 'web', namespace: ns, replicas: 3 });
  const name = ni.metadata!.name!;
  const before = await admin.create(ni);

  // The create meets the object; it is gone by the time the read that follows is answered.
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  const read = (r: SeenRequest) =>
    r.method === 'GET' && r.url.split('?')[0]!.endsWith(`/networkintents/${name}`);
  proxy.before(read, async () => {
    await admin.delete(NetworkIntents, name, ns);
    await waitFor(async () => !(await admin.find(NetworkIntents, name, ns)), {
      description: 'the NetworkIntent to be gone',
      timeoutMs: 30_000,
    });
  });

  const result = await submitNetworkIntent(client, ni, { backoffMs: 1 });
  assert.deepEqual(result, { outcome: 'created', name, namespace: ns });
  const after = await admin.get(NetworkIntents, name, ns);
  assert.notEqual(after.metadata?.uid, before.metadata?.uid, 'made anew');
});
