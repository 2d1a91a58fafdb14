/**
 * A start called off, against the run's control plane: installCrds rejects with the reason it was
 * given, and `tutti operator` stopped by Ctrl-C while it installs the CRDs or while its caches
 * sync stops what had started and ends by itself with exit code 130. The start is held up where
 * the test wants it by an identity that may do only part of what the operator does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { SubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { ClusterRole, ClusterRoleBinding, PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import {
  ClusterRoleBindings,
  ClusterRoles,
  CustomResourceDefinitions,
  Leases,
} from '../../src/runtime/client/kinds.js';
import { installCrds } from '../../src/runtime/crds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { kubeconfigVariant, testClient, testNamespace } from '../support/cluster.js';
import { startTutti } from '../support/command.js';

/** How soon after Ctrl-C the command must be gone: it waits for nothing but its own stop. */
const EXIT_WITHIN_MS = 10_000;
const CRDS = 'apiextensions.k8s.io';
/** What the operator's CRD install needs; without `get`, it waits for Established for a minute. */
const INSTALL_CRDS: PolicyRule = {
  apiGroups: [CRDS],
  resources: ['customresourcedefinitions'],
  verbs: ['create', 'patch'],
};
const READ_CRDS: PolicyRule = { apiGroups: [CRDS], resources: ['customresourcedefinitions'], verbs: ['get'] };

/**
 * A kubeconfig of the test cluster speaking as a user of its own (impersonated), allowed `rules`
 * cluster-wide and nothing else; resolves once RBAC enforces them.
 */
async function restrictedKubeconfig(t: TestContext, admin: KubeClient, rules: PolicyRule[]): Promise<string> {
  const user = `tutti-start-${randomBytes(4).toString('hex')}`;
  await admin.create<ClusterRole>({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: user },
    rules,
  });
  t.after(() => admin.delete(ClusterRoles, user).catch(() => {}));
  await admin.create<ClusterRoleBinding>({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: user },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
  });
  t.after(() => admin.delete(ClusterRoleBindings, user).catch(() => {}));
  // RBAC is served from an informer cache: wait until the binding is in force.
  await waitFor(
    async () => {
      const review = await admin.create<SubjectAccessReview>({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          resourceAttributes: { group: CRDS, resource: 'customresourcedefinitions', verb: 'patch' },
        },
      });
      return review.status?.allowed;
    },
    { description: `the rules of ${user} to be in force`, timeoutMs: 30_000 },
  );
  const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
    for (const u of doc.users) u.user['as'] = user;
  });
  return kubeconfig;
}

/** A CRD of the test's own, removed when it ends. */
function testCrd(t: TestContext, admin: KubeClient): CustomResourceDefinition {
  const group = `start-${randomBytes(4).toString('hex')}.tutti.dev`;
  t.after(() => admin.delete(CustomResourceDefinitions, `gadgets.${group}`).catch(() => {}));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `gadgets.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } },
        },
      ],
    },
  };
}

test('installCrds called off rejects with the reason it was given: before it began, and while it waits for Established', async (t) => {
  const admin = await testClient(t);
  const crd = testCrd(t, admin);
  const before = new Error('called off before');
  await assert.rejects(
    installCrds(admin, [crd], { signal: AbortSignal.abort(before) }),
    (err) => err === before,
  );
  assert.equal(
    await admin.find(CustomResourceDefinitions, crd.metadata!.name!),
    undefined,
    'nothing applied',
  );

  // This identity may apply the CRD but not read it back: the install waits until called off.
  const client = await KubeClient.load(await restrictedKubeconfig(t, admin, [INSTALL_CRDS]));
  t.after(() => client.close());
  const abort = new AbortController();
  const installing = installCrds(client, [crd], { signal: abort.signal });
  await waitFor(() => admin.find(CustomResourceDefinitions, crd.metadata!.name!), {
    description: 'the CRD to be applied',
    timeoutMs: 30_000,
  });
  // Without the signal the wait would end only at its 60 s deadline, with an error of its own.
  const reason = new Error('called off while waiting');
  abort.abort(reason);
  await assert.rejects(installing, (err) => err === reason);
});

test('Ctrl-C while tutti operator installs the CRDs: a message, exit code 130, and the process ends by itself at once', async (t) => {
  const admin = await testClient(t);
  const kubeconfig = await restrictedKubeconfig(t, admin, [INSTALL_CRDS]);
  // The slow start's note says where it is: the install, which cannot end for this identity.
  const starting = await startTutti(
    t,
    ['operator', '--kubeconfig', kubeconfig, '--health-port', '0'],
    /still starting after 30 s: still reaching the API server and installing the CRDs/,
  );
  assert.equal(await starting.stop('SIGINT', EXIT_WITHIN_MS), 130, starting.output());
  assert.match(
    starting.output(),
    /"msg":"SIGINT: stopping Tutti before it was running"}\n[\s\S]*tutti operator: interrupted while Tutti started; it is stopped \(CRDs it installed stay\)\n$/,
  );
});

test('Ctrl-C while tutti operator syncs its caches stops its manager (informers, health server, no lease held) and exits 130 by itself', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'start');
  // This identity may install the CRDs but list nothing: the caches never sync.
  const kubeconfig = await restrictedKubeconfig(t, admin, [INSTALL_CRDS, READ_CRDS]);
  const starting = await startTutti(
    t,
    ['operator', '--kubeconfig', kubeconfig, '--health-port', '0', '--system-namespace', ns],
    /"port":(\d+),"msg":"serving \/healthz, \/readyz and \/metrics"/,
  );
  const healthPort = Number(starting.ready[1]);
  await waitFor(() => /"msg":"list failed; retrying"/.test(starting.output()), {
    description: 'an informer to be refused its list',
    timeoutMs: 30_000,
  });
  assert.equal((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status, 500, 'not ready: unsynced');
  assert.equal(await starting.stop('SIGINT', EXIT_WITHIN_MS), 130, starting.output());
  const output = starting.output();
  const stopped = output.indexOf('"msg":"stopped"');
  const said = output.indexOf('tutti operator: interrupted while Tutti started; it is stopped');
  assert.ok(stopped >= 0 && stopped < said, `the manager stopped before the command ended:\n${output}`);
  assert.doesNotMatch(output, /"msg":"caches synced"/);
  // Leader election begins once the caches sync: none began, so no lease is left held.
  const lease = await admin.find(Leases, 'tutti-operator', ns);
  assert.ok(!lease?.spec?.holderIdentity, `no lease is held: ${JSON.stringify(lease?.spec)}`);
});
