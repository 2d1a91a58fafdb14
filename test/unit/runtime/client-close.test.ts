import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ClientClosedError } from '../../../src/runtime/client/errors.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';

test('close() ends the requests under way, discovery included, instead of sending them again', async (t) => {
  // A server that takes each connection and never answers: without close() the requests would
  // wait out their 30 s deadline, and a GET would then be sent again on a new socket.
  const connected: Socket[] = [];
  const hung = createServer((socket) => connected.push(socket));
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of connected) s.destroy();
    hung.close();
  });
  const dir = await mkdtemp(join(tmpdir(), 'tutti-close-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: hung
  cluster: {server: 'https://127.0.0.1:${(hung.address() as AddressInfo).port}', insecure-skip-tls-verify: true}
users:
- name: someone
  user: {token: t}
contexts:
- name: hung
  context: {cluster: hung, user: someone}
current-context: hung
`,
  );
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
