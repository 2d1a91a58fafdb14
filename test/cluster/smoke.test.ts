/**
 * Proves the local control plane is a real Kubernetes: controllers, scheduler, garbage collector,
 * TTL controller, exec through the API server, RBAC and CRD validation all behave as upstream.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { ForbiddenError, InvalidError } from '../../src/runtime/client/errors.js';
import { execInPod } from '../../src/runtime/client/exec.js';
import {
  CustomResourceDefinitions,
  Deployments,
  EndpointSlices,
  Jobs,
  Pods,
  ReplicaSets,
} from '../../src/runtime/client/kinds.js';
import { kind } from '../../src/runtime/client/types.js';
import { installCrds } from '../../src/runtime/crds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { shellPod, testClient, testNamespace } from '../support/cluster.js';

const podReady = (p: Pod) =>
  p.status?.phase === 'Running' &&
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

function deployment(namespace: string, name: string, replicas: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      },
    },
  };
}

describe('local control plane', () => {
  test('a Deployment gets a ReplicaSet and Running pods; its Service gets an EndpointSlice', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    await client.create(deployment(ns, 'web', 3));
    await client.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 80 }] },
    });

    const rs = await waitFor(async () => (await client.list(ReplicaSets, { namespace: ns })).items[0], {
      description: 'the Deployment to create a ReplicaSet',
      timeoutMs: 30_000,
    });
    assert.equal(rs.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
    const pods = await waitFor(
      async () => {
        const items = (await client.list(Pods, { namespace: ns, labelSelector: 'app=web' })).items;
        return items.length === 3 && items.every(podReady) ? items : undefined;
      },
      { description: '3 Running and Ready pods', timeoutMs: 30_000 },
    );
    assert.ok(
      pods.every((p) => p.spec?.nodeName?.startsWith('tutti-worker-')),
      'scheduled onto simulated workers',
    );

    const slice = await waitFor(
      async () => {
        const s = (
          await client.list(EndpointSlices, {
            namespace: ns,
            labelSelector: 'kubernetes.io/service-name=web',
          })
        ).items[0];
        return s?.endpoints?.length === 3 ? s : undefined;
      },
      { description: 'an EndpointSlice with the 3 pods', timeoutMs: 30_000 },
    );
    assert.deepEqual(
      slice.endpoints!.map((e) => e.addresses[0]).sort(),
      pods.map((p) => p.status?.podIP).sort(),
    );

    const ready = await waitFor(
      async () => {
        const d = await client.get(Deployments, 'web', ns);
        return d.status?.readyReplicas === 3 ? d : undefined;
      },
      { description: 'the Deployment to report 3 ready replicas', timeoutMs: 30_000 },
    );
    assert.equal(ready.status?.availableReplicas, 3);
  });

  test('a Job completes and ttlSecondsAfterFinished removes it', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    const job: Job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'once', namespace: ns },
      spec: {
        ttlSecondsAfterFinished: 1,
        template: {
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'main', image: 'busybox', command: ['true'] }],
          },
        },
      },
    };
    await client.create(job);
    const done = await waitFor(
      async () => {
        const j = await client.find(Jobs, 'once', ns);
        return j?.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')
          ? j
          : undefined;
      },
      { description: 'the Job to complete', timeoutMs: 60_000 },
    );
    assert.equal(done.status?.succeeded, 1);
    await waitFor(async () => (await client.find(Jobs, 'once', ns)) === undefined, {
      description: 'the TTL controller to delete the finished Job',
      timeoutMs: 60_000,
    });
  });

  test('deleting an owner garbage-collects its dependents', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    await client.create(deployment(ns, 'owned', 2));
    await waitFor(async () => (await client.list(Pods, { namespace: ns })).items.length === 2, {
      description: 'the pods of the Deployment',
      timeoutMs: 30_000,
    });
    await client.delete(Deployments, 'owned', ns, { propagationPolicy: 'Background' });
    await waitFor(
      async () =>
        (await client.list(ReplicaSets, { namespace: ns })).items.length === 0 &&
        (await client.list(Pods, { namespace: ns })).items.length === 0,
      { description: 'the garbage collector to remove the ReplicaSet and its pods', timeoutMs: 60_000 },
    );
  });

  test('exec into a pod returns stdout, stderr and the exit code, non-zero included', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    await shellPod(client, ns);

    const ok = await execInPod(client, ns, 'shell', ['sh', '-c', 'echo hello; echo oops >&2']);
    assert.deepEqual(ok, { stdout: 'hello\n', stderr: 'oops\n', exitCode: 0, truncated: false });

    const failed = await execInPod(client, ns, 'shell', ['sh', '-c', 'echo partial; exit 7']);
    assert.equal(failed.exitCode, 7);
    assert.equal(failed.stdout, 'partial\n');

    const piped = await execInPod(client, ns, 'shell', ['sh', '-c', 'tr a-z A-Z'], { stdin: 'from stdin' });
    assert.equal(piped.stdout, 'FROM STDIN');
  });

  test('an impersonated ServiceAccount is Forbidden without a Role and allowed with one', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    await client.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'reader', namespace: ns },
    });
    const reader = client.impersonating({ user: `system:serviceaccount:${ns}:reader` });

    const denied = await reader.list(Pods, { namespace: ns }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(denied instanceof ForbiddenError, `expected Forbidden, got ${String(denied)}`);
    assert.match(
      denied.message,
      new RegExp(`system:serviceaccount:${ns}:reader.*cannot list resource "pods"`),
    );

    await client.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-reader', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    });
    await client.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'pod-reader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    });
    const allowed = await waitFor(() => reader.list(Pods, { namespace: ns }), {
      description: 'the RoleBinding to take effect',
      timeoutMs: 15_000,
    });
    assert.deepEqual(allowed.items, []);
  });

  test('a CRD with a structural schema rejects an invalid object with 422 naming the field', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client);
    const group = `${ns}.smoke.tutti.dev`;
    const crd: CustomResourceDefinition = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 1, maximum: 10 } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    t.after(() => client.delete(CustomResourceDefinitions, `widgets.${group}`));
    // Established comes before discovery lists the kind: installCrds waits for it to be served.
    await installCrds(client, [crd]);

    const Widget = kind(`${group}/v1`, 'Widget');
    const widget = (size: unknown) => ({ ...Widget, metadata: { name: 'w', namespace: ns }, spec: { size } });
    const err = await client.create(widget(50)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof InvalidError, `expected 422 Invalid, got ${String(err)}`);
    assert.equal(err.code, 422);
    assert.deepEqual(
      err.causes.map((c) => c.field),
      ['spec.size'],
    );
    assert.match(
      err.message,
      /spec\.size: Invalid value: 50: spec\.size in body should be less than or equal to 10/,
    );

    const created = await client.create(widget(5));
    assert.equal((created as { spec: { size: number } }).spec.size, 5);
  });
});
