import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps, Events } from '../../../src/runtime/client/kinds.js';
import { EventRecorder, MAX_QUEUED_EVENTS } from '../../../src/runtime/events.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { blackholeProxied } from './fixtures/blackhole-proxy.js';

test('while the API server does not answer, events past the queue bound are dropped, not queued without end', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'events');
  const regarding = await admin.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'subject', namespace: ns },
  });
  const { proxy, kubeconfig } = await blackholeProxied(t);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  await client.get(ConfigMaps, 'subject', ns); // discovery done: what hangs is the events
  const recorder = new EventRecorder(client, 'tutti.dev/events-test', 'test-0');
  proxy.goSilent();
  // Four in flight, hanging, and the queue filled: none of these may settle yet.
  const pending = Array.from({ length: 4 + MAX_QUEUED_EVENTS }, (_, i) =>
    recorder.record(regarding, 'Normal', 'Tested', 'Test', `event ${i}`),
  );
  t.after(async () => {
    await proxy.stop(); // refused from here on: the queued events fail at once
    await Promise.all(pending);
  });
  const past = await Promise.race([
    recorder.record(regarding, 'Normal', 'Tested', 'Test', 'one too many').then(() => 'dropped' as const),
    new Promise<'queued'>((resolve) => setTimeout(() => resolve('queued'), 10_000).unref()),
  ]);
  assert.equal(past, 'dropped', 'an event past the bound was queued behind the others');
});

test('an event repeated after its Event was deleted is recorded again', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'events-again');
  const regarding = await admin.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'subject', namespace: ns },
  });
  const recorder = new EventRecorder(admin, 'tutti.dev/events-test', 'test-0');
  const events = async () => (await admin.list(Events, { namespace: ns })).items;
  await recorder.record(regarding, 'Warning', 'Failing', 'Test', 'still failing');
  const [first] = await events();
  assert.ok(first, 'the first event was recorded');
  // Deleted by hand, or by its TTL: the series it began is gone with it.
  await admin.delete(Events, first.metadata!.name!, ns);
  await recorder.record(regarding, 'Warning', 'Failing', 'Test', 'still failing');
  const after = await events();
  assert.equal(after.length, 1, 'the repeat was lost with the deleted Event');
  assert.equal(after[0]!.note, 'still failing');
});
