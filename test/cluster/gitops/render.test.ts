import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { conformWithServer, parseObjects, type SourcedObject } from '../../../src/gitops/conform.js';
import { renderTree } from '../../../src/gitops/render.js';
import { translateIntent } from '../../../src/gitops/translate.js';
import { KindNotFoundError } from '../../../src/runtime/client/discovery.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';

const intent = {
  id: 'render-test',
  name: 'Every attribute',
  expression: {
    expressionLanguage: 'JSON',
    expressionValue: {
      context: { area: 'campus', sliceType: ['URLLC', 'eMBB'] },
      requirements: {
        latency: '<1ms',
        throughput: '>1Gbps',
        maxSessions: 1000,
        maxSubscribers: '>=50000',
        userThroughput: '>=100Mbps',
        radioLatency: '<=4ms',
        prbUtilization: '<80%',
        handoverSuccessRate: '>99%',
        packetLoss: '<0.1%',
        availability: '>=99.999%',
        reliability: '>99.99%',
        bandwidth: '>=10Gbps',
        jitter: '<500us',
      },
    },
  },
};

test('the API server accepts every rendered object as rendered, without dropping a field', async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  const tree = renderTree(translateIntent(intent));
  const objects: SourcedObject[] = [...tree]
    .filter(([path]) => path !== 'kustomization.yaml')
    .flatMap(([path, text]) => parseObjects(text, path));

  // What the tree ships, installed the way an edge sync installs it: CRDs and namespaces first.
  await installCrds(
    client,
    objects
      .map((s) => s.object)
      .filter((o) => o.kind === 'CustomResourceDefinition') as CustomResourceDefinition[],
  );
  for (const s of objects.filter((s) => s.object.kind === 'Namespace')) await client.apply(s.object);

  assert.equal(objects.filter((s) => s.object.kind?.endsWith('Bundle')).length, 13);
  assert.deepEqual(await conformWithServer(client, objects), { problems: [], offlineOnly: [] });

  // The same check catches what a schema would silently prune, and what it rejects.
  const cn = structuredClone(objects.find((s) => s.object.kind === 'CNBundle')!);
  const spec = (cn.object as unknown as { spec: Record<string, Record<string, unknown>> }).spec;
  spec['capacity']!['colour'] = { condition: 'EQUAL', value: 'blue' };
  const rn = structuredClone(objects.find((s) => s.object.kind === 'RANBundle')!);
  (rn.object as unknown as { spec: Record<string, unknown> }).spec['expectationType'] = 'ServiceCapacity';
  const { problems } = await conformWithServer(client, [cn, rn]);
  assert.deepEqual(
    problems.map((p) => [p.object.split(' ')[1], p.field]),
    [
      ['CNBundle', 'spec.capacity.colour'],
      ['RANBundle', 'spec.expectationType'],
    ],
  );
  assert.equal(problems[0]!.message, 'field not declared in schema');
  assert.match(problems[1]!.message, /Unsupported value: "ServiceCapacity"/);
});

/** A CRD of kind Thing in `group`, as YAML; `schema` is its openAPIV3Schema in flow style. */
function thingCrd(group: string, scope: 'Namespaced' | 'Cluster', schema: string): string {
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.${group}
spec:
  group: ${group}
  scope: ${scope}
  names: {kind: Thing, plural: things, singular: thing, listKind: ThingList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: ${schema}}`;
}

test('a tree whose Namespace and CRD are not on the cluster yet: their objects are checked offline only, not failed', async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  const suffix = Math.random().toString(36).slice(2, 8);
  const group = `conform-${suffix}.tutti.dev`;
  const yaml = [
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fresh-${suffix}`,
    thingCrd(group, 'Namespaced', '{type: object, properties: {size: {type: integer}}}'),
    `apiVersion: ${group}/v1\nkind: Thing\nmetadata:\n  name: a\n  namespace: fresh-${suffix}\nsize: 1`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: fresh-${suffix}`,
    // A namespace neither the tree nor the cluster has is still a problem.
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: nowhere-${suffix}`,
  ].join('\n---\n');
  const { problems, offlineOnly } = await conformWithServer(client, parseObjects(yaml, 'tree.yaml'));
  assert.deepEqual(
    offlineOnly.map((o) => o.split(' ').slice(1).join(' ')),
    [`Thing fresh-${suffix}/a`, `ConfigMap fresh-${suffix}/b`],
  );
  assert.deepEqual(
    problems.map((p) => [p.object.split(' ').slice(1).join(' '), p.field]),
    [[`ConfigMap nowhere-${suffix}/c`, '(object)']],
  );
  assert.match(problems[0]!.message, new RegExp(`namespaces "nowhere-${suffix}" not found`));
});

test("conform tells a kind the cluster lacks by discovery's error type, not its wording; a kind neither tree nor cluster defines is named", async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  // However discovery words "no such kind", the tree's own CRD still explains it.
  const resolve = client.discovery.resolve.bind(client.discovery);
  client.discovery.resolve = (apiVersion, kind) =>
    resolve(apiVersion, kind).catch((err: unknown) => {
      if (err instanceof KindNotFoundError) err.message = `${kind} is unknown here`;
      throw err;
    });
  const suffix = Math.random().toString(36).slice(2, 8);
  const group = `worded-${suffix}.tutti.dev`;
  const yaml = [
    thingCrd(group, 'Cluster', '{type: object}'),
    `apiVersion: ${group}/v1\nkind: Thing\nmetadata:\n  name: a`,
    `apiVersion: other-${suffix}.tutti.dev/v1\nkind: Gadget\nmetadata:\n  name: b`,
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ${await testNamespace(t, client)}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.k8s.io/pause:3.10}]}`,
  ].join('\n---\n');
  const { problems, offlineOnly } = await conformWithServer(client, parseObjects(yaml, 'tree.yaml'));
  assert.deepEqual(offlineOnly, ['tree.yaml#2 Thing a']);
  assert.deepEqual(problems, [
    {
      object: 'tree.yaml#3 Gadget b',
      field: 'kind',
      message: `the cluster serves no Gadget in other-${suffix}.tutti.dev/v1 (is its CRD installed?); no CRD in the tree defines it`,
    },
  ]);
});

test('conform --kubeconfig reports every problem of a tree, offline and from the server, not only the first', async (t) => {
  const client = await testClient(t, 'tutti-gitops-test');
  const namespace = await testNamespace(t, client);
  const dir = await mkdtemp(join(tmpdir(), 'tutti-conform-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'broken.yaml'), 'a: [b\n');
  await writeFile(join(dir, 'nameless.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n');
  await writeFile(
    join(dir, 'server.yaml'),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n  namespace: ${namespace}\n`,
  );
  const tutti = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [tutti, 'gitops', 'conform', dir, '--kubeconfig', testKubeconfig()],
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 3, run.stderr);
  assert.match(lines[0]!, /^broken\.yaml#1: \(document\): /);
  assert.equal(lines[1], 'nameless.yaml#1 ConfigMap (no name): metadata.name: required');
  assert.match(
    lines[2]!,
    new RegExp(`^server\\.yaml#1 ConfigMap ${namespace}/Not_A_Name: metadata\\.name: .*RFC 1123`),
  );
  assert.match(run.stdout, /2 objects, 3 problems/);
});
