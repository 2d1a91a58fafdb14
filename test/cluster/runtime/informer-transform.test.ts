import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { Informer } from '../../../src/runtime/informer.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';

const configMap = (namespace: string, name: string, data: Record<string, string> = {}): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  // Labelled, so that the namespace's own kube-root-ca.crt stays out of the informer's view.
  metadata: { name, namespace, labels: { made: 'by-test' } },
  data,
});

/** A transform that cannot shape a ConfigMap marked `broken`. */
const picky = (o: ConfigMap): ConfigMap => {
  if (o.data?.['broken']) throw new Error('cannot shape this one');
  return o;
};

test('an object the transform throws on is left out at the list and on the watch; the informer goes on with the others', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'inf-transform');
  await client.create(configMap(ns, 'a'));
  await client.create(configMap(ns, 'listed-bad', { broken: 'yes' }));
  const informer = new Informer(client, ConfigMaps, {
    namespace: ns,
    labelSelector: 'made=by-test',
    transform: picky,
  });
  const added: string[] = [];
  const deleted: string[] = [];
  informer.addHandler({
    add: (o) => void added.push(o.metadata!.name!),
    delete: (o) => void deleted.push(o.metadata!.name!),
  });
  informer.start();
  t.after(() => informer.stop());
  // It syncs although one listed object cannot be shaped.
  const synced = AbortSignal.timeout(30_000);
  await informer.waitForSync(synced);
  assert.deepEqual(informer.keys(), [`${ns}/a`]);
  const aVersion = informer.get(`${ns}/a`)?.metadata?.resourceVersion;

  await client.create(configMap(ns, 'watched-bad', { broken: 'yes' }));
  await client.create(configMap(ns, 'b'));
  await client.patch(ConfigMaps, 'a', ns, { data: { broken: 'now' } });
  await client.delete(ConfigMaps, 'b', ns);
  await client.create(configMap(ns, 'c'));
  await waitFor(() => added.includes('c'), {
    description: 'the objects after the broken ones to be cached',
    timeoutMs: 30_000,
  });
  assert.deepEqual(added, ['a', 'b', 'c']);
  assert.deepEqual(deleted, ['b']);
  // The last state it could cache is kept: a broken update is no deletion.
  assert.equal(informer.get(`${ns}/a`)?.metadata?.resourceVersion, aVersion);
  assert.equal(informer.get(`${ns}/watched-bad`), undefined);
});
