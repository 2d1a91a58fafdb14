import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_QUERIES } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { parsePlannerConfig } from '../../../src/planner/config.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { testClient } from '../../support/cluster.js';

const FILES = [
  'namespace.yaml',
  'planner-configmap.yaml',
  'planner-queries-configmap.yaml',
  'rbac.yaml',
  'planner.yaml',
  'mongodb/mongodb.yaml',
];

async function manifests(): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const f of FILES)
    for (const d of parseAllDocuments(
      await readFile(new URL(`../../../deploy/ido/${f}`, import.meta.url), 'utf8'),
    ))
      out.push(d.toJS() as KubeObject);
  return out;
}

test('deploy/ido passes server-side dry-run, with the seed names and rules', async (t) => {
  const client = await testClient(t);
  const objs = await manifests();
  const ns = objs.find((o) => o.kind === 'Namespace')!;
  // The namespace must exist for dry-run of its contents; it is created for real only when absent.
  const created = !(await client.find({ apiVersion: 'v1', kind: 'Namespace' }, 'ido'));
  if (created) {
    await client.apply(ns);
    t.after(() => client.delete({ apiVersion: 'v1', kind: 'Namespace' }, 'ido'));
  }
  for (const o of objs.filter((x) => x.kind !== 'Namespace')) await client.apply(o, { dryRun: true });
  const names = objs.map((o) => `${o.kind}/${o.metadata?.name}`);
  for (const n of [
    'ConfigMap/planner-configmap',
    'ConfigMap/planner-queries-configmap',
    'ServiceAccount/planner-service-account',
    'Service/plugin-manager-service',
    'Deployment/planner',
    'Service/planner-mongodb-service',
  ])
    assert.ok(names.includes(n), `${n} missing`);
  const sa = objs.find((o) => o.kind === 'ServiceAccount') as KubeObject & { imagePullSecrets: unknown };
  assert.deepEqual(sa.imagePullSecrets, [{ name: 'ghcr-secret' }]);
  const role = objs.find((o) => o.kind === 'ClusterRole') as KubeObject & {
    rules: { resources: string[]; verbs: string[] }[];
  };
  assert.deepEqual(
    role.rules.map((r) => `${r.resources.join(',')}:${r.verbs.join(',')}`),
    [
      'intents,kpiprofiles:get,list,watch',
      'intents/status,kpiprofiles/status:update',
      'pods:get,list,watch,patch,update,delete',
      'replicasets,deployments:get,patch,update',
      'horizontalpodautoscalers:get,list,watch',
    ],
  );
  const cm = (n: string) =>
    (objs.find((o) => o.metadata?.name === n) as KubeObject & { data: Record<string, string> }).data;
  // The shipped config loads, and the queries are the planner's defaults.
  assert.equal(parsePlannerConfig(cm('planner-configmap')['defaults.json']!).planner.astar.max_states, 2000);
  assert.deepEqual(JSON.parse(cm('planner-queries-configmap')['default_queries.json']!), DEFAULT_QUERIES);
});
