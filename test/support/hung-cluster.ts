import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * A "cluster" that takes each connection and never answers, and a kubeconfig for it: requests to
 * it hang for as long as the test wants. `connected` holds the connections it took.
 */
export async function hungCluster(t: TestContext): Promise<{ kubeconfig: string; connected: Socket[] }> {
  const connected: Socket[] = [];
  const hung = createServer((socket) => connected.push(socket));
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of connected) s.destroy();
    hung.close();
  });
  const dir = await mkdtemp(join(tmpdir(), 'tutti-hung-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: hung
  cluster:
    server: https://127.0.0.1:${(hung.address() as AddressInfo).port}
    insecure-skip-tls-verify: true
users:
- name: someone
  user: {token: t}
contexts:
- name: hung
  context: {cluster: hung, user: someone}
current-context: hung
`,
  );
  return { kubeconfig, connected };
}
