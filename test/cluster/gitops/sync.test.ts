import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { stringify } from 'yaml';
import { CNBundles, TNBundles } from '../../../src/apis/nephio/bundles.js';
import { GitSyncs } from '../../../src/apis/tutti/gitsync.js';
import { gitopsCrds } from '../../../src/gitops/crds.js';
import { GitHttpServer } from '../../../src/gitops/git-http-server.js';
import { publishTree } from '../../../src/gitops/publish.js';
import { renderTree } from '../../../src/gitops/render.js';
import { EdgeSyncer, LABEL_SYNCED_BY } from '../../../src/gitops/sync.js';
import { translateIntent } from '../../../src/gitops/translate.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps, CustomResourceDefinitions, Namespaces } from '../../../src/runtime/client/kinds.js';
import { kind } from '../../../src/runtime/client/types.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { metricsRegistry } from '../../../src/runtime/health-server.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, twoContextKubeconfig } from '../../support/cluster.js';

const credentials = { username: 'admin1', password: 's3cret' };

async function publish(repo: string, requirements: Record<string, string>) {
  const expectations = translateIntent({ id: 'sync-test', intent: 'sync', requirements });
  return publishTree(
    renderTree(expectations),
    expectations.map((e) => e.intentExpectationId),
    { repo, credentials },
  );
}

/** A client of the test plane with the GitSync CRD installed. */
async function syncClient(t: TestContext) {
  const client = await testClient(t, 'tutti-gitops-sync');
  await installCrds(
    client,
    gitopsCrds().filter((c) => c.spec.group === 'tutti.dev'),
  );
  return client;
}

/** A git server under a temp root, both gone when the test ends. */
async function gitServer(t: TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'tutti-sync-'));
  const server = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
  await server.start(0);
  t.after(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  return { root, server };
}

/** A sync of the whole of `repo`'s main branch, its checkout under `root`. */
function syncOptions(name: string, repo: string, root: string) {
  return { name, repo, branch: 'main', dir: '/', periodMs: 1000, credentials, cacheDir: join(root, 'cache') };
}

test('sync applies the repository, prunes only what it applied, reports status and recovers from git outages', async (t) => {
  const client = await syncClient(t);
  const root = await mkdtemp(join(tmpdir(), 'tutti-sync-'));
  const server = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
  await server.start(0);
  // after() hooks run in the order they were added: the syncer, which writes its cache under
  // root every 100 ms, must have stopped before root goes.
  let stopSyncer = async () => {};
  t.after(async () => {
    await stopSyncer();
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  const repo = await server.createRepository('admin1/edge1-config');
  const first = await publish(repo, { latency: '<1ms', jitter: '<2ms' });

  const syncer = new EdgeSyncer(client, {
    name: 'edge1-sync-test',
    repo,
    branch: 'main',
    dir: '/',
    periodMs: 100,
    credentials,
    cacheDir: join(root, 'cache'),
  });
  t.after(() => client.delete(GitSyncs, 'edge1-sync-test'));
  const stop = new AbortController();
  const loop = syncer.run(stop.signal);
  stopSyncer = async () => {
    stop.abort();
    await loop;
  };

  const synced = await waitFor(
    async () => {
      const s = (await client.get(GitSyncs, 'edge1-sync-test')).status;
      return s?.commit === first.commit && s.conditions?.[0]?.status === 'True' && s;
    },
    { description: `GitSync to report commit ${first.commit} synced`, timeoutMs: 60_000 },
  );
  assert.equal(synced.objects, 2 + 3 + 4); // namespaces, CRDs, two ConfigMaps and two bundles
  assert.deepEqual(synced.errors, []);
  assert.equal(synced.conditions![0]!.reason, 'Synced');
  const cn = await client.get(CNBundles, 'cn-bundle-sync-test-cn-cap-001', 'intent-to-krm');
  assert.deepEqual(cn.spec.capacity, { latency: { condition: 'LESS_THAN', value: '1ms' } });
  assert.equal(cn.metadata.labels?.[LABEL_SYNCED_BY], 'edge1-sync-test');
  await client.get(TNBundles, 'tn-bundle-sync-test-tn-cov-001', 'intent-to-krm');

  // Something this sync did not apply, in the same namespace, must survive every prune.
  await client.apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'not-from-git', namespace: 'intent-to-krm' },
    data: { a: 'b' },
  });
  t.after(() => client.delete(ConfigMaps, 'not-from-git', 'intent-to-krm'));

  // The TN expectation leaves the repository: the edge prunes its bundle and ConfigMap.
  const second = await publish(repo, { latency: '<1ms' });
  await waitFor(
    async () => (await client.get(GitSyncs, 'edge1-sync-test')).status?.commit === second.commit,
    {
      description: `GitSync to reach commit ${second.commit}`,
      timeoutMs: 60_000,
    },
  );
  assert.equal(await client.find(TNBundles, 'tn-bundle-sync-test-tn-cov-001', 'intent-to-krm'), undefined);
  assert.equal(await client.find(ConfigMaps, 'expectation-sync-test-tn-cov-001', 'intent-to-krm'), undefined);
  assert.ok(await client.find(CNBundles, 'cn-bundle-sync-test-cn-cap-001', 'intent-to-krm'));
  assert.ok(await client.find(ConfigMaps, 'not-from-git', 'intent-to-krm'));

  // The git server goes down: status says so, the applied objects stay.
  await server.stop();
  const down = await waitFor(
    async () => {
      const s = (await client.get(GitSyncs, 'edge1-sync-test')).status;
      return s?.conditions?.[0]?.reason === 'GitUnreachable' && s;
    },
    { description: 'GitSync to report the git server unreachable', timeoutMs: 60_000 },
  );
  assert.equal(down.conditions![0]!.status, 'False');
  assert.match(down.errors![0]!, /the git server cannot be reached/);
  assert.equal(down.commit, second.commit);
  assert.ok(await client.find(CNBundles, 'cn-bundle-sync-test-cn-cap-001', 'intent-to-krm'));
  const metrics = await metricsRegistry.getSingleMetricAsString('tutti_gitsync_errors');
  assert.match(metrics, /tutti_gitsync_errors\{sync="edge1-sync-test"\} 1/);

  // Back up on the same port: the next period syncs again.
  await server.start();
  await waitFor(
    async () => (await client.get(GitSyncs, 'edge1-sync-test')).status?.conditions?.[0]?.reason === 'Synced',
    { description: 'GitSync to recover once the git server is back', timeoutMs: 60_000 },
  );
});

test('bad credentials are reported as such in status', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-config');
  await publish(repo, { latency: '<1ms' });
  const syncer = new EdgeSyncer(client, {
    name: 'edge1-bad-auth',
    repo,
    branch: 'main',
    dir: '/',
    periodMs: 1000,
    credentials: { username: 'admin1', password: 'nope' },
    cacheDir: join(root, 'cache'),
  });
  t.after(() => client.delete(GitSyncs, 'edge1-bad-auth'));
  await syncer.register();
  const outcome = await syncer.syncOnce();
  assert.match(outcome.errors[0]!, /authentication failed/);
  const status = (await client.get(GitSyncs, 'edge1-bad-auth')).status!;
  assert.equal(status.conditions![0]!.reason, 'GitAuthFailed');
  assert.doesNotMatch(JSON.stringify(status), /nope/);
});

/** A CRD of the group sync-test.tutti.dev whose kind is Widget, under the given plural. */
function widgetCrd(plural: string): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.sync-test.tutti.dev` },
    spec: {
      group: 'sync-test.tutti.dev',
      scope: 'Namespaced',
      names: { kind: 'Widget', plural, singular: plural.replace(/s$/, ''), listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { data: { type: 'string' } } } },
        },
      ],
    },
  };
}

test('a commit applied in part, then one that cannot be read: status says so and keeps describing what is applied', async (t) => {
  const client = await syncClient(t);
  // The kind Widget is taken: the repository's CRD asking for it again is never Established.
  await installCrds(client, [widgetCrd('widgets')]);
  t.after(async () => {
    await client.delete(CustomResourceDefinitions, 'widgets.sync-test.tutti.dev');
    await client.delete(CustomResourceDefinitions, 'gizmos.sync-test.tutti.dev');
    await client.delete(Namespaces, 'tutti-sync-partial');
  });
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-partial');
  const tree = new Map([
    ['namespace.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tutti-sync-partial\n'],
    ['crd.yaml', stringify(widgetCrd('gizmos'))],
    [
      'config.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: tutti-sync-partial\ndata:\n  a: b\n',
    ],
  ]);
  const partial = await publishTree(tree, ['partial'], { repo, credentials });
  const syncer = new EdgeSyncer(client, syncOptions('edge1-partial', repo, root));
  t.after(() => client.delete(GitSyncs, 'edge1-partial'));
  await syncer.register();

  const outcome = await syncer.syncOnce();
  assert.match(outcome.errors.join('\n'), /CRD gizmos\.sync-test\.tutti\.dev: names not accepted/);
  let status = (await client.get(GitSyncs, 'edge1-partial')).status!;
  assert.equal(status.conditions![0]!.status, 'False');
  assert.equal(status.conditions![0]!.reason, 'ApplyFailed');
  assert.equal(status.commit, partial.commit);
  assert.deepEqual(
    status.inventory!.map((e) => `${e.kind}/${e.name}`).sort(),
    [
      'ConfigMap/settings',
      'CustomResourceDefinition/gizmos.sync-test.tutti.dev',
      'Namespace/tutti-sync-partial',
    ],
    'what was applied is in the inventory, so that it can be pruned later',
  );
  assert.ok(await client.find(ConfigMaps, 'settings', 'tutti-sync-partial'));

  // A commit with a file that is not YAML is not applied at all.
  const broken = await publishTree(new Map([...tree, ['broken.yaml', 'a: [b\n']]), ['broken'], {
    repo,
    credentials,
  });
  await syncer.syncOnce();
  status = (await client.get(GitSyncs, 'edge1-partial')).status!;
  assert.equal(status.conditions![0]!.reason, 'SourceInvalid');
  assert.match(status.errors![0]!, new RegExp(`^commit ${broken.commit!.slice(0, 12)}: .*broken\\.yaml`));
  assert.equal(status.commit, partial.commit, 'the commit applied, not the one refused');
  assert.equal(status.objects, 3);
});

test('a GitSync deleted while the sync runs is created again and syncing goes on', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-config');
  const syncer = new EdgeSyncer(client, syncOptions('edge1-deleted', repo, root));
  t.after(() => client.delete(GitSyncs, 'edge1-deleted'));
  await syncer.register();
  await client.delete(GitSyncs, 'edge1-deleted');
  await waitFor(async () => !(await client.find(GitSyncs, 'edge1-deleted')), {
    description: 'the GitSync to be deleted',
    timeoutMs: 30_000,
  });
  const published = await publish(repo, { latency: '<1ms' });
  const outcome = await syncer.syncOnce();
  assert.deepEqual(outcome.errors, []);
  const status = (await client.get(GitSyncs, 'edge1-deleted')).status!;
  assert.equal(status.commit, published.commit);
  assert.equal(status.conditions![0]!.reason, 'Synced');
});

test('a sync whose edge cluster cannot be reached counts as a failed run in the metrics', async (t) => {
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-config');
  // Its current context names a port nothing listens on: an edge that went away.
  const gone = await KubeClient.load(await twoContextKubeconfig(t), { fieldManager: 'tutti-gitsync' });
  t.after(() => gone.close());
  const syncer = new EdgeSyncer(gone, syncOptions('edge1-gone', repo, root));
  await assert.rejects(syncer.syncOnce(), /cannot reach the API server/);
  const runs = await metricsRegistry.getSingleMetric('tutti_gitsync_runs_total')!.get();
  assert.deepEqual(
    runs.values.filter((v) => v.labels['sync'] === 'edge1-gone').map((v) => [v.labels['result'], v.value]),
    [['error', 1]],
  );
});

test('a sync killed between applying a commit and writing its status still prunes what it applied', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-crash');
  t.after(() => client.delete(Namespaces, 'tutti-sync-crash'));
  const namespace = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tutti-sync-crash\n';
  const config = (name: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: tutti-sync-crash\ndata:\n  a: b\n`;
  const options = syncOptions('edge1-crash', repo, root);
  t.after(() => client.delete(GitSyncs, 'edge1-crash'));
  await publishTree(new Map([['namespace.yaml', namespace]]), ['base'], { repo, credentials });
  await new EdgeSyncer(client, options).syncOnce();

  // The process dies after applying the next commit, before its status is written.
  const added = await publishTree(
    new Map([
      ['namespace.yaml', namespace],
      // A path publish owns, so that the next publish removes it.
      ['apps/intent/cn_capacity.yaml', config('late')],
    ]),
    ['late'],
    { repo, credentials },
  );
  const dying = new Proxy(client, {
    get(target, property) {
      if (property === 'applyStatus')
        return async (obj: { status?: { commit?: string } }) => {
          if (obj.status?.commit === added.commit) throw new Error('killed before the status write');
          return target.applyStatus(obj as never);
        };
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await assert.rejects(new EdgeSyncer(dying, options).syncOnce(), /killed before the status write/);
  assert.ok(await client.find(ConfigMaps, 'late', 'tutti-sync-crash'), 'the object was applied');

  // It leaves git before the next sync, which a restarted process runs: the object is pruned.
  const removed = await publishTree(new Map([['namespace.yaml', namespace]]), ['base'], {
    repo,
    credentials,
  });
  const outcome = await new EdgeSyncer(client, { ...options, cacheDir: join(root, 'cache-2') }).syncOnce();
  assert.deepEqual(outcome.errors, []);
  assert.equal(outcome.pruned, 1);
  assert.equal(await client.find(ConfigMaps, 'late', 'tutti-sync-crash'), undefined);
  const status = (await client.get(GitSyncs, 'edge1-crash')).status!;
  assert.equal(status.commit, removed.commit);
  assert.deepEqual(
    status.inventory!.map((e) => `${e.kind}/${e.name}`),
    ['Namespace/tutti-sync-crash'],
  );
});

test('a kustomization may list a kustomize base; a missing or unusable resource is named by its path in the repository', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-bases');
  t.after(() => client.delete(Namespaces, 'tutti-sync-bases'));
  const cacheDir = join(root, 'cache');
  const syncer = new EdgeSyncer(client, { ...syncOptions('edge1-bases', repo, root), dir: 'site' });
  t.after(() => client.delete(GitSyncs, 'edge1-bases'));
  const kustomization = (...resources: string[]) => stringify({ resources });
  const files = new Map([
    ['site/namespace.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tutti-sync-bases\n'],
    ['site/base/kustomization.yaml', kustomization('settings.yaml')],
    [
      'site/base/settings.yaml',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-base\n  namespace: tutti-sync-bases\ndata:\n  a: b\n',
    ],
    ['site/plain/notes.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n'],
  ]);
  const sync = async (...resources: string[]) => {
    const published = await publishTree(
      new Map([...files, ['site/kustomization.yaml', kustomization(...resources)]]),
      ['bases'],
      { repo, credentials },
    );
    const outcome = await syncer.syncOnce();
    return { commit: published.commit.slice(0, 12), outcome };
  };

  // A directory holding a kustomization is a base: its resources are applied.
  const based = await sync('namespace.yaml', 'base');
  assert.deepEqual(based.outcome.errors, []);
  assert.equal(based.outcome.objects, 2);
  const applied = await client.get(ConfigMaps, 'from-base', 'tutti-sync-bases');
  assert.equal(applied.metadata?.labels?.[LABEL_SYNCED_BY], 'edge1-bases');

  const missing = await sync('namespace.yaml', 'base', 'missing.yaml');
  assert.deepEqual(missing.outcome.errors, [
    `commit ${missing.commit}: site/kustomization.yaml lists missing.yaml, but the repository has no site/missing.yaml`,
  ]);
  const plain = await sync('namespace.yaml', 'plain');
  assert.deepEqual(plain.outcome.errors, [
    `commit ${plain.commit}: site/kustomization.yaml lists the directory plain, which has no kustomization.yaml; a directory resource must be a kustomize base`,
  ]);
  const status = (await client.get(GitSyncs, 'edge1-bases')).status!;
  assert.equal(status.conditions![0]!.reason, 'SourceInvalid');
  assert.ok(!JSON.stringify(status).includes(cacheDir), 'no path of the checkout on this machine');
  assert.ok(await client.find(ConfigMaps, 'from-base', 'tutti-sync-bases'), 'nothing refused is pruned');
});

test('an object whose apiVersion changes in git (autoscaling/v1 to v2) is the same object: applied, never pruned', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-version');
  t.after(() => client.delete(Namespaces, 'tutti-sync-version'));
  t.after(() => client.delete(GitSyncs, 'edge1-version'));
  const namespace = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tutti-sync-version\n';
  const hpa = (apiVersion: string, max: number) =>
    stringify({
      apiVersion,
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'upf', namespace: 'tutti-sync-version' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'upf' },
        minReplicas: 1,
        maxReplicas: max,
      },
    });
  const HPAs = kind('autoscaling/v2', 'HorizontalPodAutoscaler');
  const options = syncOptions('edge1-version', repo, root);
  await publishTree(
    new Map([
      ['namespace.yaml', namespace],
      ['hpa.yaml', hpa('autoscaling/v1', 3)],
    ]),
    ['v1'],
    { repo, credentials },
  );
  assert.deepEqual((await new EdgeSyncer(client, options).syncOnce()).errors, []);
  assert.ok(await client.find(HPAs, 'upf', 'tutti-sync-version'));

  // The same HPA, written for the newer API version.
  const moved = await publishTree(
    new Map([
      ['namespace.yaml', namespace],
      ['hpa.yaml', hpa('autoscaling/v2', 5)],
    ]),
    ['v2'],
    { repo, credentials },
  );
  const outcome = await new EdgeSyncer(client, options).syncOnce();
  assert.deepEqual(outcome.errors, []);
  assert.equal(outcome.pruned, 0);
  const live = await client.find(HPAs, 'upf', 'tutti-sync-version');
  assert.equal(
    (live as { spec?: { maxReplicas?: number } } | undefined)?.spec?.maxReplicas,
    5,
    'the HPA is on the edge',
  );
  const status = (await client.get(GitSyncs, 'edge1-version')).status!;
  assert.equal(status.commit, moved.commit);
  assert.deepEqual(status.inventory!.map((e) => `${e.apiVersion} ${e.kind}/${e.name}`).sort(), [
    'autoscaling/v2 HorizontalPodAutoscaler/upf',
    'v1 Namespace/tutti-sync-version',
  ]);
  // Later syncs keep it.
  assert.equal((await new EdgeSyncer(client, options).syncOnce()).pruned, 0);
  assert.ok(await client.find(HPAs, 'upf', 'tutti-sync-version'));
});

test('a commit with a document that names no object is refused whole: the object it used to be is not pruned', async (t) => {
  const client = await syncClient(t);
  const { root, server } = await gitServer(t);
  const repo = await server.createRepository('admin1/edge1-unnamed');
  const namespace = 'tutti-sync-unnamed';
  t.after(() => client.delete(Namespaces, namespace));
  const syncer = new EdgeSyncer(client, syncOptions('edge1-unnamed', repo, root));
  t.after(() => client.delete(GitSyncs, 'edge1-unnamed'));
  await syncer.register();
  const settings = (metadata: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n${metadata}data:\n  a: b\n`;
  const tree = (settingsYaml: string) =>
    new Map([
      ['namespace.yaml', `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`],
      ['settings.yaml', `${settingsYaml}---\n${settings(`  name: other\n  namespace: ${namespace}\n`)}`],
    ]);
  const good = await publishTree(tree(settings(`  name: settings\n  namespace: ${namespace}\n`)), ['good'], {
    repo,
    credentials,
  });
  assert.deepEqual((await syncer.syncOnce()).errors, []);
  assert.ok(await client.find(ConfigMaps, 'settings', namespace));

  // metadata.name misspelt, and a document that is a list: neither names an object.
  const unnamed = await publishTree(
    new Map([
      ...tree(settings(`  nmae: settings\n  namespace: ${namespace}\n`)),
      ['list.yaml', '- a\n- b\n'],
    ]),
    ['unnamed'],
    { repo, credentials },
  );
  const outcome = await syncer.syncOnce();
  const at = `commit ${unnamed.commit.slice(0, 12)}`;
  assert.deepEqual(outcome.errors, [
    `${at}: list.yaml#1: is a list, not an object; every document must name its object (apiVersion, kind, metadata.name)`,
    `${at}: settings.yaml#1: has no metadata.name; every document must name its object (apiVersion, kind, metadata.name)`,
  ]);
  const status = (await client.get(GitSyncs, 'edge1-unnamed')).status!;
  assert.equal(status.conditions![0]!.reason, 'SourceInvalid');
  assert.equal(status.commit, good.commit, 'the commit applied, not the one refused');
  assert.ok(await client.find(ConfigMaps, 'settings', namespace), 'the object it used to be is kept');
  assert.deepEqual(
    status.inventory!.map((e) => `${e.kind}/${e.name}`).sort(),
    ['ConfigMap/other', 'ConfigMap/settings', `Namespace/${namespace}`],
    'still pruned once it leaves git for good',
  );
});
