/**
 * End to end, intent → edge Ready: a TMF921 intent POSTed to the intent API, published to git,
 * pulled by the edge sync every 2 s, provisioned by the edge's controllers, until GET reports it
 * fulfilled. p50 over 10 intents, beside a baseline from the same run: the same objects
 * server-side applied straight to the edge, until the same bundles are Ready (no git, no sync).
 * One cluster plays SMO and edge.
 *
 *   node --import tsx bench/gitops/e2e.ts        ($KUBECONFIG, or a plane of its own)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BUNDLE_KINDS, type Bundle } from '../../src/apis/nephio/bundles.js';
import { gitopsCrds } from '../../src/gitops/crds.js';
import { sampleIntent } from '../../src/gitops/e2e.js';
import { GitHttpServer } from '../../src/gitops/git-http-server.js';
import { setupBundleControllers } from '../../src/gitops/o2ims/bundle-controller.js';
import { setupProvisioningController } from '../../src/gitops/o2ims/provisioning-controller.js';
import { LABEL_INTENT, RENDER_NAMESPACE, renderExpectation } from '../../src/gitops/render.js';
import { EdgeSyncer } from '../../src/gitops/sync.js';
import { INTENT_PATH, type IntentResource } from '../../src/gitops/tmf921/intent.js';
import { IntentServer } from '../../src/gitops/tmf921/server.js';
import { IntentService } from '../../src/gitops/tmf921/service.js';
import { IntentStore } from '../../src/gitops/tmf921/store.js';
import { translateIntent } from '../../src/gitops/translate.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { kind } from '../../src/runtime/client/types.js';
import { installCrds } from '../../src/runtime/crds.js';
import { Manager } from '../../src/runtime/manager.js';
import { waitFor } from '../../src/runtime/wait.js';
import { benchCluster, percentile, report } from '../support.js';

const INTENTS = 10;
const PERIOD_MS = 2_000;
const run = Date.now().toString(36);

const cluster = await benchCluster('gitops-e2e');
const client = await KubeClient.load(cluster.kubeconfig, { fieldManager: 'tutti-bench' });
const root = await mkdtemp(join(tmpdir(), 'tutti-bench-e2e-'));
const credentials = { username: 'admin1', password: 'bench' };
const git = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
await git.start(0);
const repo = await git.createRepository('admin1/edge1-config');
await installCrds(client, gitopsCrds());
await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tutti-system' } });
for (const ns of [RENDER_NAMESPACE, 'edge1'])
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });

const mgr = new Manager({ client, name: 'bench-gitops-e2e' });
setupBundleControllers(mgr);
setupProvisioningController(mgr);
await mgr.start();
const stop = new AbortController();
const loop = new EdgeSyncer(client, {
  name: `bench-${run}`,
  repo,
  branch: 'main',
  dir: '/',
  periodMs: PERIOD_MS,
  credentials,
  cacheDir: join(root, 'cache'),
}).run(stop.signal);
const service = new IntentService({
  store: new IntentStore(client, 'tutti-system'),
  edge: client,
  publish: { repo, credentials },
});
const server = new IntentServer(service);
const url = `http://127.0.0.1:${await server.start(0)}${INTENT_PATH}`;

/** The WF-D sample intent under this id, and the expectations it becomes. */
function intentOf(id: string) {
  const intent = sampleIntent(id);
  return { intent, expectations: translateIntent(intent) };
}

async function bundlesReady(id: string): Promise<boolean> {
  let ready = 0;
  for (const info of BUNDLE_KINDS) {
    const list = await client.list(kind<Bundle>(`${info.group}/v1alpha1`, info.kind), {
      namespace: RENDER_NAMESPACE,
      labelSelector: `${LABEL_INTENT}=${id}`,
    });
    ready += list.items.filter((b) =>
      b.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  }
  return ready === 3;
}

const pipeline: number[] = [];
const direct: number[] = [];
for (let i = 0; i < INTENTS; i++) {
  const id = `bench-${run}-${i}`;
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(intentOf(id).intent) });
  if (res.status !== 201) throw new Error(`POST: HTTP ${res.status} ${await res.text()}`);
  await waitFor(
    async () =>
      ((await (await fetch(`${url}/${id}`)).json()) as IntentResource).lifecycleStatus === 'fulfilled',
    { description: `intent ${id} fulfilled`, timeoutMs: 120_000, intervalMs: 20 },
  );
  pipeline.push(performance.now() - t0);

  const base = `base-${run}-${i}`;
  const t1 = performance.now();
  for (const obj of intentOf(base).expectations.flatMap(renderExpectation)) await client.apply(obj);
  await waitFor(() => bundlesReady(base), {
    description: `bundles of ${base} Ready`,
    timeoutMs: 120_000,
    intervalMs: 20,
  });
  direct.push(performance.now() - t1);
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
report(
  `gitops e2e, TMF921 intent → fulfilled on the edge (p50 of ${INTENTS}, sync period ${PERIOD_MS / 1000}s)`,
  percentile(sorted(pipeline), 50),
  'ms',
  'same objects server-side applied to the edge → bundles Ready',
  percentile(sorted(direct), 50),
);

stop.abort();
await loop;
await server.stop();
await service.close();
await mgr.stop();
await git.stop();
await rm(root, { recursive: true, force: true });
client.close();
await cluster.done();
