import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { ClusterRoleBindings, ClusterRoles, Namespaces } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { dropIntent, handoffDir, intent, readState, startLoop } from './support.js';

const run = promisify(execFile);
const DIR = new URL('../../../deploy/conductor-loop/', import.meta.url).pathname;

async function objects(file: string): Promise<KubeObject[]> {
  return parseAllDocuments(await readFile(`${DIR}${file}`, 'utf8')).map((d) => d.toJS() as KubeObject);
}

test('deploy/conductor-loop applies with server-side dry-run and its RBAC lets the loop submit', async (t) => {
  const client = await testClient(t);
  await installCrds(client, conductorCrds());
  const [deployment] = (await objects('deployment.yaml')) as {
    spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } };
  }[];
  assert.equal(deployment!.spec.replicas, 2);
  assert.deepEqual(deployment!.spec.template.spec.containers[0]!.args, [
    '--use-processor',
    '--handoff-dir=/data/handoff/in',
    '--error-dir=/data/handoff/errors',
    '--porch-mode=structured',
    '--batch-size=10',
    '--batch-interval=5s',
    '--schema=/app/docs/contracts/intent.schema.json',
  ]);

  // Namespaced objects dry-run only into an existing namespace; everything else stays a dry run.
  await client.apply((await objects('namespace.yaml'))[0]!);
  t.after(() => client.delete(Namespaces, 'conductor-loop'));
  const env = { ...process.env, KUBECONFIG: testKubeconfig() };
  const { stdout } = await run(
    'kubectl',
    [
      'apply',
      '--server-side',
      '--dry-run=server',
      '-f',
      'rbac.yaml',
      '-f',
      'pvc.yaml',
      '-f',
      'deployment.yaml',
    ],
    { cwd: DIR, env },
  );
  assert.match(stdout, /deployment\.apps\/conductor-loop serverside-applied \(server dry run\)/);
  assert.match(stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/conductor-loop serverside-applied/);

  // The role for real: the loop, speaking as the manifests' ServiceAccount, can submit.
  for (const obj of await objects('rbac.yaml')) await client.apply(obj);
  t.after(async () => {
    await client.delete(ClusterRoleBindings, 'conductor-loop');
    await client.delete(ClusterRoles, 'conductor-loop');
  });
  const ns = await testNamespace(t, client, 'deployed');
  const asLoop = client.impersonating({
    user: 'system:serviceaccount:conductor-loop:conductor-loop',
    groups: ['system:serviceaccounts', 'system:authenticated'],
  });
  const dirs = await handoffDir(t);
  await startLoop(t, asLoop, dirs);
  await dropIntent(dirs.dir, 'intent-rbac.json', intent(ns, 'web'));
  const record = await waitFor(async () => (await readState(dirs.dir))['intent-rbac.json'], {
    description: 'the intent processed',
    timeoutMs: 30_000,
  });
  assert.equal(record.status, 'processed');
  assert.equal((await client.list(NetworkIntents, { namespace: ns })).items.length, 1);
});
