import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { MAX_REQUEST_SOCKETS } from '../../../src/runtime/client/connection.js';
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

test('close() also ends the requests still waiting for one of the pool’s sockets', async (t) => {
  const { kubeconfig, connected } = await hungCluster(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'test' });
  // More than the pool's sockets: the rest wait in the agent's queue for a socket to come free.
  const requests = Array.from({ length: MAX_REQUEST_SOCKETS + 8 }, (_, i) =>
    client.transport.json({ method: 'GET', path: `/api/v1/namespaces/ns/configmaps/cm-${i}` }),
  );
  const outcomes = requests.map((r) =>
    r.then(
      () => 'answered',
      (err: Error) => err,
    ),
  );
  await waitFor(() => connected.length >= MAX_REQUEST_SOCKETS, {
    description: 'the pool to open all its sockets',
    timeoutMs: 10_000,
  });
  const seen = connected.length;
  client.close();
  for (const outcome of await Promise.all(outcomes))
    assert.ok(outcome instanceof ClientClosedError, String(outcome));
  assert.equal(connected.length, seen, 'no queued request was sent on a new socket');
});

test("the caller's signal ends a request still waiting for one of the pool's sockets", async (t) => {
  const { kubeconfig, connected } = await hungCluster(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'test' });
  t.after(() => client.close());
  const get = (i: number, signal?: AbortSignal) =>
    client.transport.json({ method: 'GET', path: `/api/v1/namespaces/ns/configmaps/cm-${i}`, signal });
  const hung = Array.from({ length: MAX_REQUEST_SOCKETS }, (_, i) => get(i).catch(() => {}));
  await waitFor(() => connected.length >= MAX_REQUEST_SOCKETS, {
    description: 'the pool to open all its sockets',
    timeoutMs: 10_000,
  });
  const caller = new AbortController();
  let outcome: unknown;
  void get(-1, caller.signal).then(
    () => (outcome = 'answered'),
    (err) => (outcome = err),
  );
  const queued = client.transport.connection.agent.requests;
  await waitFor(() => Object.values(queued).some((q) => q?.length), {
    description: 'the request to wait in the queue',
    timeoutMs: 10_000,
  });
  const reason = new Error('the caller gave up');
  caller.abort(reason);
  // Without its own end, it would wait for a socket until the others' 30 s deadline.
  await waitFor(() => outcome !== undefined, { description: 'the queued request to end', timeoutMs: 10_000 });
  assert.equal(outcome, reason);
  client.close();
  await Promise.all(hung);
});

test("a request still waiting for one of the pool's sockets ends at its own deadline", async (t) => {
  const { kubeconfig, connected } = await hungCluster(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'test' });
  t.after(() => client.close());
  const hung = Array.from({ length: MAX_REQUEST_SOCKETS }, (_, i) =>
    client.transport
      .json({ method: 'GET', path: `/api/v1/namespaces/ns/configmaps/cm-${i}`, timeoutMs: 60_000 })
      .catch(() => {}),
  );
  await waitFor(() => connected.length >= MAX_REQUEST_SOCKETS, {
    description: 'the pool to open all its sockets',
    timeoutMs: 10_000,
  });
  let outcome: unknown;
  void client.transport.json({ method: 'GET', path: '/api/v1/namespaces', timeoutMs: 500 }).then(
    () => (outcome = 'answered'),
    (err) => (outcome = err),
  );
  // Without its own end, it would wait for a socket until the others' 60 s deadline.
  await waitFor(() => outcome !== undefined, { description: 'the queued request to end', timeoutMs: 10_000 });
  assert.match(String(outcome), /no complete response within 500 ms/);
  client.close();
  await Promise.all(hung);
});
