import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type Intent, Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { type KpiProfile, KpiProfiles } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { InvalidError } from '../../../src/runtime/client/errors.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { testClient, testNamespace } from '../../support/cluster.js';

const sample = async (file: string): Promise<Record<string, unknown>[]> =>
  parseAllDocuments(
    await readFile(new URL(`../../../config/samples/ido/${file}`, import.meta.url), 'utf8'),
  ).map((d) => d.toJS() as Record<string, unknown>);

test("IDO's example manifests apply unchanged and take IDO's defaults", async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-crd');
  for (const doc of [...(await sample('default_profiles.yaml')), ...(await sample('example_intent.yaml'))]) {
    await client.create({ ...doc, metadata: { ...(doc['metadata'] as object), namespace: ns } });
  }
  const intent = await client.get(Intents, 'my-function-intent', ns);
  assert.equal(intent.spec.priority, 0.01);
  assert.equal(intent.spec.active, true);
  assert.equal(intent.spec.targetRef.kind, 'Deployment');
  assert.deepEqual(
    intent.spec.objectives.map((o) => [o.name, o.value, o.tolerance]),
    [
      ['my-function-p95compliance', 4, 0],
      ['my-function-availability', 0.99, 0],
      ['my-function-rps', 0, 0],
    ],
  );
  const profiles = (await client.list(KpiProfiles, { namespace: ns })).items;
  assert.deepEqual(profiles.map((p) => [p.metadata?.name, p.spec.minimize]).sort(), [
    ['availability', false],
    ['p50latency', true],
    ['p95latency', true],
    ['p99latency', true],
    ['throughput', false],
  ]);
});

test('the status Tutti adds is written through the status subresource', async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-crd');
  const created = await client.create<Intent>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'Intent',
    metadata: { name: 'shop', namespace: ns },
    spec: {
      targetRef: { name: `${ns}/shop` },
      objectives: [{ name: 'p95', value: 20, measuredBy: 'default/p95latency' }],
    },
  });
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.replaceStatus<Intent>({
    ...created,
    status: {
      conditions: [
        {
          type: 'Fulfilled',
          status: 'False',
          reason: 'Planning',
          message: 'scaling out',
          lastTransitionTime: now,
        },
      ],
      objectives: [{ name: 'p95', current: 31.5, met: false }],
      lastPlan: { actions: [{ name: 'scaleOut', properties: { factor: 2 } }], time: now, carriedOut: true },
    },
  });
  const read = await client.get(Intents, 'shop', ns);
  assert.equal(read.status?.objectives?.[0]?.current, 31.5);
  assert.deepEqual(read.status?.lastPlan?.actions, [{ name: 'scaleOut', properties: { factor: 2 } }]);
  const profile = await client.create<KpiProfile>({
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'KPIProfile',
    metadata: { name: 'custom', namespace: ns },
    spec: { type: 'latency' },
  });
  await client.replaceStatus<KpiProfile>({ ...profile, status: { resolved: false, reason: 'no query' } });
  assert.deepEqual((await client.get(KpiProfiles, 'custom', ns)).status, {
    resolved: false,
    reason: 'no query',
  });
});

test("IDO's bounds are enforced by the API server: priority, objective count and names, target kind", async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, 'planner-crd');
  const intent = (name: string, spec: Record<string, unknown>): Intent =>
    ({
      apiVersion: 'ido.intel.com/v1alpha1',
      kind: 'Intent',
      metadata: { name, namespace: ns },
      spec: {
        targetRef: { name: `${ns}/shop` },
        objectives: [{ name: 'p95', value: 20, measuredBy: 'default/p95latency' }],
        ...spec,
      },
    }) as Intent;
  const objective = { name: 'o', value: 1, measuredBy: 'default/p95latency' };
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['zero', { priority: 0 }, /spec.priority/],
    ['above', { priority: 1.5 }, /spec.priority/],
    ['none', { objectives: [] }, /spec.objectives/],
    [
      'six',
      { objectives: [...Array(6).keys()].map((i) => ({ ...objective, name: `o${i}` })) },
      /spec.objectives/,
    ],
    // Objective names key the status: two of one name are refused, naming the duplicate.
    [
      'twice',
      {
        objectives: [
          { ...objective, name: 'slo' },
          { ...objective, name: 'slo', value: 2 },
        ],
      },
      /spec.objectives\[1\]: Duplicate value: .*"slo"/,
    ],
    ['sts', { targetRef: { kind: 'StatefulSet', name: 'a/b' } }, /spec.targetRef.kind/],
  ];
  for (const [name, spec, field] of bad) {
    await assert.rejects(
      client.create(intent(name, spec)),
      (err: unknown) => {
        assert.ok(err instanceof InvalidError, `${name}: ${String(err)}`);
        assert.match(err.message, field);
        return true;
      },
      `an intent with ${JSON.stringify(spec).slice(0, 60)} was accepted`,
    );
  }
});
