import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { Event } from 'kubernetes-types/events/v1.js';
import type { ClusterRole, Role } from 'kubernetes-types/rbac/v1.js';
import { parseAllDocuments } from 'yaml';
import { type NetworkIntent, NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { parseCommandArgs } from '../../../src/cli/command.js';
import { operatorCommand } from '../../../src/cli/operator.js';
import { A1_POLICY_FINALIZER } from '../../../src/conductor/controller.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { conductorOperatorModule } from '../../../src/conductor/operator.js';
import { ForbiddenError } from '../../../src/runtime/client/errors.js';
import { Deployments, Events, Namespaces } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { a1Mediator } from '../../support/a1-mediator.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { createDeployment } from './support.js';

const run = promisify(execFile);
const DIR = new URL('../../../deploy/conductor-operator/', import.meta.url).pathname;
const WAIT = { timeoutMs: 60_000, intervalMs: 200 };

async function manifest(): Promise<KubeObject[]> {
  return parseAllDocuments(await readFile(`${DIR}rbac.yaml`, 'utf8')).map((d) => d.toJS() as KubeObject);
}

test('deploy/conductor-operator applies with server-side dry-run', async (t) => {
  const client = await testClient(t);
  // Namespaced objects dry-run only into an existing namespace.
  if (!(await client.find(Namespaces, 'tutti-system'))) {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tutti-system' } });
    t.after(() => client.delete(Namespaces, 'tutti-system'));
  }
  const { stdout } = await run('kubectl', ['apply', '--server-side', '--dry-run=server', '-k', '.'], {
    cwd: DIR,
    env: { ...process.env, KUBECONFIG: testKubeconfig() },
  });
  for (const obj of [
    'serviceaccount/conductor-operator',
    'clusterrole.rbac.authorization.k8s.io/conductor-operator',
    'clusterrolebinding.rbac.authorization.k8s.io/conductor-operator',
    'role.rbac.authorization.k8s.io/conductor-operator-leader-election',
    'rolebinding.rbac.authorization.k8s.io/conductor-operator-leader-election',
    'deployment.apps/conductor-operator',
  ]) {
    assert.match(stdout, new RegExp(`${obj.replaceAll('.', '\\.')} serverside-applied \\(server dry run\\)`));
  }
});

test("the operator Deployment's args are flags tutti operator takes, run under the manifest's ServiceAccount", async () => {
  const docs = parseAllDocuments(await readFile(`${DIR}deployment.yaml`, 'utf8')).map((d) => d.toJS());
  const pod = docs.find((o) => o.kind === 'Deployment').spec.template.spec;
  assert.equal(pod.serviceAccountName, 'conductor-operator');
  const [command, ...flags] = pod.containers[0].args as string[];
  assert.equal(command, 'operator');
  const { values } = parseCommandArgs(operatorCommand, flags);
  assert.deepEqual(values['module'], ['conductor']);
  assert.equal(values['install-crds'], false);
  assert.equal(values['leader-elect'], true, 'two replicas need leader election');
});

test("the NetworkIntent controller runs, scales and keeps A1 under the manifest's RBAC alone", async (t) => {
  const client = await testClient(t);
  await installCrds(client, conductorCrds());
  const ns = await testNamespace(t, client, 'nic-rbac');
  const a1 = await a1Mediator(t);

  // The manifest's rules, bound to a ServiceAccount of the test's own (the plane is shared).
  const objs = await manifest();
  const clusterRole = objs.find((o) => o.kind === 'ClusterRole') as ClusterRole;
  const role = objs.find((o) => o.kind === 'Role') as Role;
  const sa = 'conductor-operator';
  const user = `system:serviceaccount:${ns}:${sa}`;
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: ns }];
  await client.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
  await client.create({ ...clusterRole, metadata: { name: ns } });
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ns },
    subjects,
  });
  t.after(async () => {
    await client.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' }, ns);
    await client.delete({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' }, ns);
  });
  await client.create({ ...role, metadata: { name: 'leader-election', namespace: ns } });
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'leader-election', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leader-election' },
    subjects,
  });

  const allowed = async (verb: string, group: string, resource: string, subresource = '', name = '') =>
    (
      (await client.create({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: { namespace: ns, verb, group, resource, subresource, name },
        },
      })) as { status?: { allowed?: boolean } }
    ).status?.allowed === true;
  // RBAC is served from a cache: wait until the last binding is in force.
  await waitFor(() => allowed('update', 'coordination.k8s.io', 'leases', '', 'tutti-operator'), {
    description: "the operator's bindings in force",
    ...WAIT,
  });
  // Nothing beyond what it calls.
  for (const [verb, group, resource, sub] of [
    ['create', 'intent.nephoran.com', 'networkintents', ''],
    ['delete', 'intent.nephoran.com', 'networkintents', ''],
    ['update', 'intent.nephoran.com', 'networkintents', 'status'],
    ['delete', 'apps', 'deployments', ''],
    ['update', 'apps', 'deployments', 'scale'],
    ['create', '', 'pods', ''],
    ['delete', 'coordination.k8s.io', 'leases', ''],
    ['get', '', 'secrets', ''],
  ] as const) {
    assert.equal(await allowed(verb, group, resource, sub), false, `${verb} ${group}/${resource} ${sub}`);
  }
  assert.equal(await allowed('update', 'coordination.k8s.io', 'leases', '', 'another-lease'), false);

  // The controller as `tutti operator --module conductor` runs it, speaking as the ServiceAccount.
  const asOperator = client.impersonating({
    user,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  });
  await assert.rejects(asOperator.list(Namespaces), ForbiddenError, 'the impersonation is in force');
  const mgr = new Manager({
    client: asOperator,
    name: 'tutti-operator',
    leaderElection: { leaseNamespace: ns },
  });
  await conductorOperatorModule.setup({
    mgr,
    systemNamespace: ns,
    options: { 'intent-namespace': ns, 'a1-endpoint': a1.url },
  });
  await mgr.start();
  t.after(() => mgr.stop());

  await createDeployment(client, ns, 'web');
  await waitFor(
    () =>
      client.create<NetworkIntent>({
        apiVersion: 'intent.nephoran.com/v1alpha1',
        kind: 'NetworkIntent',
        metadata: { name: 'web-up', namespace: ns },
        spec: { intentType: 'scaling', target: 'web', namespace: ns, replicas: 3, source: 'user' },
      }),
    { description: 'the NetworkIntent created', timeoutMs: 10_000 },
  );

  const deployed = await waitFor(
    async () => {
      const ni = await client.get(NetworkIntents, 'web-up', ns);
      return ni.status?.phase === 'Deployed' ? ni : undefined;
    },
    { description: 'the intent Deployed', ...WAIT },
  );
  assert.equal((await client.get(Deployments, 'web', ns)).spec?.replicas, 3);
  assert.deepEqual(deployed.metadata?.finalizers, [A1_POLICY_FINALIZER]);
  // The workload goes first, then the policy: Deployed may be written before the policy is put.
  await waitFor(() => a1.policies.has('100/policy-web-up'), { description: 'the A1 policy put', ...WAIT });
  const synced = await waitFor(
    async () =>
      (await client.list<Event>(Events, { namespace: ns })).items.find((e) => e.reason === 'PolicySynced'),
    { description: 'the PolicySynced Event', ...WAIT },
  );
  assert.equal(synced.reportingController, 'intent.nephoran.com/networkintent-controller');

  // Deletion: the finalizer is removed by the operator, after the policy is gone.
  await client.delete(NetworkIntents, 'web-up', ns);
  await waitFor(async () => !(await client.find(NetworkIntents, 'web-up', ns)), {
    description: 'the intent deleted',
    ...WAIT,
  });
  assert.equal(a1.policies.size, 0);
});
