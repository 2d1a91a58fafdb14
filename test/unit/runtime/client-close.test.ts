import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ClientClosedError } from '../../../src/runtime/client/errors.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { hungCluster } from '../../support/hung-cluster.js';

test('close() ends the requests under way, discovery included, instead of sending them again', async (t) => {
  // Without close() the requests would wait out their 30 s deadline, and a GET would then be
  // sent again on a new socket.
  const { kubeconfig, connected } = await hungCluster(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'test' });
  const discovery = client.discovery.resolve('v1', 'ConfigMap');
  const create = client.createOnly({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', namespace: 'ns' },
  });
  await waitFor(() => connected.length >= 1, { description: 'the requests to connect', timeoutMs: 10_000 });
  client.close();
  await assert.rejects(discovery, ClientClosedError);
  await assert.rejects(create, ClientClosedError);
  // Closing ends what is under way; it does not disable the client (a cleanup may still use it).
  const seen = connected.length;
  const later = client.list(ConfigMaps, { namespace: 'ns' });
  await waitFor(() => connected.length > seen, {
    description: 'a later request to connect',
    timeoutMs: 10_000,
  });
  client.close();
  await assert.rejects(later, /the client of https:\/\/127\.0\.0\.1:\d+ is closed/);
});
