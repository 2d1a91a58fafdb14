import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { OwnWrites } from '../../../src/hourglass/own-writes.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { Informer } from '../../../src/runtime/informer.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';

const configMap = (ns: string, name: string): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { v: '1' },
});

test('own writes: shown while the cache lags, and the cache trusted again after the TTL', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'hg-ow');
  // A cache that has stopped: the watch of a loaded API server that has not caught up yet.
  const informer = new Informer<ConfigMap>(client, ConfigMaps, { namespace: ns });
  informer.start();
  await informer.waitForSync();
  await informer.stop();
  let now = 0;
  const writes = new OwnWrites(informer, 30_000, () => now);

  const created = await client.create(configMap(ns, 'a'));
  writes.wrote(created, true);
  assert.equal(informer.get(`${ns}/a`), undefined);
  assert.equal(writes.get(`${ns}/a`)?.metadata?.uid, created.metadata?.uid);
  assert.deepEqual(
    writes.overlay([], (o) => o.metadata?.name === 'a').map((o) => o.metadata?.uid),
    [created.metadata?.uid],
  );
  assert.deepEqual(
    writes.overlay([], (o) => o.metadata?.name === 'b'),
    [],
  );

  const patched = await client.patch(ConfigMaps, 'a', ns, { data: { v: '2' } });
  writes.wrote(patched, false);
  assert.equal(writes.get(`${ns}/a`)?.data?.['v'], '2');

  now = 30_001;
  assert.equal(writes.get(`${ns}/a`), undefined, 'past the TTL the (stale) cache is trusted again');
  assert.equal(writes.size, 0);
});

test('own writes: forgotten once the watch delivers them; a deletion since wins', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'hg-ow');
  const informer = new Informer<ConfigMap>(client, ConfigMaps, { namespace: ns });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync();
  const writes = new OwnWrites(informer);

  const created = await client.create(configMap(ns, 'a'));
  writes.wrote(created, true);
  const patched = await client.patch(ConfigMaps, 'a', ns, { data: { v: '2' } });
  writes.wrote(patched, false);
  assert.equal(writes.get(`${ns}/a`)?.data?.['v'], '2');
  await waitFor(() => writes.size === 0 && informer.get(`${ns}/a`)?.data?.['v'] === '2', {
    description: 'the informer to deliver the patch and the write to be forgotten',
    timeoutMs: 60_000,
  });

  const again = await client.patch(ConfigMaps, 'a', ns, { data: { v: '3' } });
  writes.wrote(again, false);
  await client.delete(ConfigMaps, 'a', ns);
  await waitFor(() => writes.get(`${ns}/a`) === undefined, {
    description: 'the deletion to hide the earlier write',
    timeoutMs: 60_000,
  });
  assert.equal(writes.size, 0);
});
