import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { parseAllDocuments } from 'yaml';
import { Intents } from '../../../src/apis/ido.intel.com/intent.js';
import { KpiProfiles } from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig } from '../../support/cluster.js';
import { createWorkload, simulate, waitForCondition } from './support.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
const docs = async (path: string): Promise<KubeObject[]> =>
  parseAllDocuments(await readFile(new URL(`../../../${path}`, import.meta.url), 'utf8')).map(
    (d) => d.toJS() as KubeObject,
  );
const configMapData = async (path: string, key: string): Promise<string> =>
  ((await docs(path))[0] as ConfigMap).data![key]!;

// IDO's sample intent and profiles live in `default` and target default/function-deployment:
// they are applied there unchanged, and the planner watches that namespace only.
test("IDO's example intent and profiles, applied unchanged, are planned by `tutti planner`", async (t) => {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const samples = [
    ...(await docs('config/samples/ido/default_profiles.yaml')),
    ...(await docs('config/samples/ido/example_intent.yaml')),
  ];
  const cleanup = async () => {
    await client.delete(Intents, 'my-function-intent', 'default').catch(() => false);
    for (const p of samples.filter((d) => d.kind === 'KPIProfile'))
      await client.delete(KpiProfiles, p.metadata!.name!, 'default').catch(() => false);
    await client.delete(Deployments, 'function-deployment', 'default').catch(() => false);
  };
  await cleanup();
  t.after(cleanup);

  // 25 req/s on one replica of 600m: 6.2 ms against "p95 ≤ 4"; three replicas answer in 3.4 ms.
  await createWorkload(client, 'default', 'function-deployment', 1, '500m');
  const { prometheus } = await simulate(t, client, 'default', 'function-deployment', 25);

  // The seed's ConfigMaps, with faster rounds and the queries sent to this test's Prometheus.
  const dir = await mkdtemp(join(tmpdir(), 'tutti-planner-samples-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = JSON.parse(await configMapData('deploy/ido/planner-configmap.yaml', 'defaults.json'));
  Object.assign(config.controller, {
    controller_timeout: 1,
    plan_cache_ttl: 3000,
    plan_cache_timeout: 20000,
  });
  config.generic.mongo_endpoint = ''; // the embedded trace store: no MongoDB in this test
  await writeFile(join(dir, 'defaults.json'), JSON.stringify(config));
  const queries = JSON.parse(
    await configMapData('deploy/ido/planner-queries-configmap.yaml', 'default_queries.json'),
  );
  for (const q of Object.values(queries) as { endpoint: string }[])
    if (q.endpoint) q.endpoint = prometheus.queryUrl;
  await writeFile(join(dir, 'default_queries.json'), JSON.stringify(queries));

  for (const d of samples) await client.apply({ ...d, metadata: { ...d.metadata, namespace: 'default' } });

  const child = spawn(
    process.execPath,
    [
      TUTTI,
      'planner',
      `--kubeconfig=${testKubeconfig()}`,
      `--config=${join(dir, 'defaults.json')}`,
      `--queries=${join(dir, 'default_queries.json')}`,
      `--trace-dir=${join(dir, 'traces')}`,
      '--namespace=default',
      '--health-port=0',
      '--plugin-port=0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-8000);
  });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });

  // A planner that exits (bad flags, a store it cannot open) fails the test at once, with its log.
  const died = exited.then(() => {
    throw new Error(`tutti planner exited (${child.exitCode})`);
  });
  const done = await Promise.race([
    waitForCondition(client, 'default', 'my-function-intent', 'Fulfilled', 'True', 120_000),
    died,
  ]).catch((err: Error) => {
    throw new Error(`${err.message}\nplanner log:\n${stderr}`);
  });
  assert.deepEqual(
    done.status!.objectives!.map((o) => [o.name, o.met]),
    [
      ['my-function-p95compliance', true],
      ['my-function-availability', true],
      ['my-function-rps', true],
    ],
  );
  assert.ok((await client.get(Deployments, 'function-deployment', 'default')).spec!.replicas! >= 3);
  // The profiles' status is IDO's: resolved from the queries file, or why not.
  const profiles = await waitFor(
    async () => {
      const list = (await client.list(KpiProfiles, { namespace: 'default' })).items;
      const mine = list.filter((p) => samples.some((s) => s.metadata?.name === p.metadata?.name));
      return mine.every((p) => p.status?.resolved === true) ? mine : undefined;
    },
    { description: 'the sample profiles to be resolved', timeoutMs: 30_000 },
  );
  assert.equal(profiles.length, 5);
  // The traced planning events are on disk, in the embedded store.
  const events = await readFile(join(dir, 'traces', 'events.jsonl'), 'utf8');
  assert.match(events, /"intent":"default\/my-function-intent"/);
});
