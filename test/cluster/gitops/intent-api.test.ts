import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { NamedRuleWithOperations } from 'kubernetes-types/admissionregistration/v1.js';
import { CNBundles, TNBundles } from '../../../src/apis/nephio/bundles.js';
import { ProvisioningRequests } from '../../../src/apis/o2ims/provisioning-request.js';
import { GitSyncs } from '../../../src/apis/tutti/gitsync.js';
import { gitopsCrds } from '../../../src/gitops/crds.js';
import { git } from '../../../src/gitops/git.js';
import { GitHttpServer } from '../../../src/gitops/git-http-server.js';
import { LABEL_INTENT, RENDER_NAMESPACE } from '../../../src/gitops/render.js';
import { EdgeSyncer, type SyncOutcome } from '../../../src/gitops/sync.js';
import { INTENT_PATH, type IntentRecord, type IntentResource } from '../../../src/gitops/tmf921/intent.js';
import { IntentServer } from '../../../src/gitops/tmf921/server.js';
import { IntentService } from '../../../src/gitops/tmf921/service.js';
import { IntentStore } from '../../../src/gitops/tmf921/store.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { closeServer, listen } from '../../../src/runtime/http-server.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { denyingPolicy, testClient, testNamespace } from '../../support/cluster.js';
import { startEdgeControllers, tmf921Intent } from './support.js';

const credentials = { username: 'admin1', password: 's3cret' };

interface IntentApi {
  client: KubeClient;
  store: IntentStore;
  id: string;
  /** The intent collection's URL. */
  url: string;
  post(body: string): Promise<Response>;
  /** One pass of the edge's sync, when the test drives it (`syncLoop: false`). */
  syncEdge(): Promise<SyncOutcome>;
}

/**
 * The SMO's intent API publishing to a git server, and an edge (the same plane) syncing the
 * repository and running the bundle and provisioning controllers for one intent id.
 */
async function intentApi(
  t: TestContext,
  edge: { siteNamespace?: string } = {},
  { syncLoop = true } = {},
): Promise<IntentApi> {
  const client = await testClient(t, 'tutti-gitops-test');
  await installCrds(client, gitopsCrds());
  const smoNamespace = await testNamespace(t, client, 'smo');
  const root = await mkdtemp(join(tmpdir(), 'tutti-intent-api-'));
  const git = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
  await git.start(0);
  t.after(() => git.stop());
  const repo = await git.createRepository('admin1/edge1-config');
  const id = `api-${randomBytes(4).toString('hex')}`;

  const syncName = `intent-api-${id}`;
  const syncer = new EdgeSyncer(client, {
    name: syncName,
    repo,
    branch: 'main',
    dir: '/',
    periodMs: 500,
    credentials,
    cacheDir: join(root, 'cache'),
  });
  const stopSync = new AbortController();
  if (!syncLoop) await syncer.register();
  const loop = syncLoop ? syncer.run(stopSync.signal) : Promise.resolve();
  t.after(async () => {
    stopSync.abort();
    await loop;
    await client.delete(GitSyncs, syncName);
  });
  await startEdgeControllers(t, client, {
    namespace: RENDER_NAMESPACE,
    labelSelector: `${LABEL_INTENT}=${id}`,
    ...edge,
  });

  const store = new IntentStore(client, smoNamespace);
  const service = new IntentService({
    store,
    edge: client,
    publish: { repo, credentials },
  });
  const server = new IntentServer(service);
  const port = await server.start(0);
  t.after(async () => {
    await server.stop();
    await service.close();
  });
  // Registered last, so it runs after the sync loop and the server have stopped writing here.
  t.after(() => rm(root, { recursive: true, force: true, maxRetries: 5 }));
  const url = `http://127.0.0.1:${port}${INTENT_PATH}`;
  const post = (body: string) =>
    fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { client, store, id, url, post, syncEdge: () => syncer.syncOnce() };
}

test('TMF921 intents posted over HTTP are acknowledged, reach the edge, and report fulfilled from the bundles on the edge', async (t) => {
  const { client, id, url, post } = await intentApi(t);

  // Bad requests: 400 naming the field.
  const bad = await post(JSON.stringify({ intent: 'x', requirements: { latency: '5 parsecs' } }));
  assert.equal(bad.status, 400);
  const error = (await bad.json()) as { '@type': string; code: string; message: string };
  assert.equal(error['@type'], 'Error');
  assert.equal(error.code, '400');
  assert.match(error.message, /requirements\.latency/);
  const notJson = await post('{"id": ');
  assert.equal(notJson.status, 400);
  assert.match(((await notJson.json()) as { message: string }).message, /\(body\): is not valid JSON/);

  const intent = tmf921Intent(id, { latency: '<5ms', availability: '>99.9%' });
  const created = await post(JSON.stringify(intent));
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('location'), `${INTENT_PATH}/${id}`);
  const body = (await created.json()) as IntentResource;
  assert.equal(body.id, id);
  assert.equal(body.lifecycleStatus, 'acknowledged');
  assert.deepEqual(body.expression, intent.expression);
  assert.deepEqual(body.characteristic.find((c) => c.name === 'intentExpectationIds')?.value, [
    `${id}-cn-cap-001`,
    `${id}-tn-cov-001`,
  ]);
  assert.equal((await post(JSON.stringify(intent))).status, 409);

  const seen = new Set<string>();
  const fulfilled = await waitFor(
    async () => {
      const r = (await (await fetch(`${url}/${id}`)).json()) as IntentResource;
      seen.add(r.lifecycleStatus);
      return r.lifecycleStatus === 'fulfilled' && r;
    },
    { description: `intent ${id} to become fulfilled`, timeoutMs: 120_000, intervalMs: 200 },
  );
  assert.ok(!seen.has('failed'), `never failed on the way, saw ${[...seen].join(', ')}`);
  assert.match(
    String(fulfilled.characteristic.find((c) => c.name === 'statusMessage')?.value),
    /2 of 2 bundles Ready/,
  );
  assert.ok(fulfilled.statusChangeDate >= fulfilled.creationDate);
  const cn = await client.get(CNBundles, `cn-bundle-${id}-cn-cap-001`, RENDER_NAMESPACE);
  assert.equal(cn.status?.conditions?.[0]?.reason, 'Ready');
  const pr = await client.get(ProvisioningRequests, cn.status!.provisioningRequest!);
  assert.equal(pr.status?.provisioningStatus?.provisioningState, 'fulfilled');

  const list = (await (await fetch(url)).json()) as IntentResource[];
  assert.deepEqual(
    list.map((i) => [i.id, i.lifecycleStatus]),
    [[id, 'fulfilled']],
  );
  assert.equal((await fetch(`${url}/nope`)).status, 404);

  // Withdrawn: the edge prunes the bundles, and their requests go with them.
  assert.equal((await fetch(`${url}/${id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await fetch(`${url}/${id}`)).status, 404);
  await waitFor(
    async () =>
      !(await client.find(CNBundles, cn.metadata.name!, RENDER_NAMESPACE)) &&
      !(await client.find(TNBundles, `tn-bundle-${id}-tn-cov-001`, RENDER_NAMESPACE)),
    { description: `the bundles of intent ${id} to be pruned from the edge`, timeoutMs: 60_000 },
  );
  assert.equal(await client.find(ProvisioningRequests, pr.metadata.name!), undefined);
});

test('an intent withdrawn and posted again with other content is not fulfilled until the edge has that content', async (t) => {
  const { client, id, url, post, syncEdge } = await intentApi(t, {}, { syncLoop: false });
  const lifecycle = () => lifecycleOf(url, id);
  const until = (what: string, ok: (l: Awaited<ReturnType<typeof lifecycle>>) => boolean) =>
    waitFor(
      async () => {
        const l = await lifecycle();
        return ok(l) && l;
      },
      { description: `intent ${id} ${what}`, timeoutMs: 60_000, intervalMs: 200 },
    );
  const bundle = `cn-bundle-${id}-cn-cap-001`;

  assert.equal((await post(JSON.stringify(tmf921Intent(id, { latency: '<5ms' })))).status, 201);
  const first = await until('published', (l) => l.status === 'inProgress');
  assert.deepEqual((await syncEdge()).errors, []);
  await until('fulfilled', (l) => l.status === 'fulfilled');

  // Withdrawn and posted again with another latency, published before the edge syncs again.
  assert.equal((await fetch(`${url}/${id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await post(JSON.stringify(tmf921Intent(id, { latency: '<10ms' })))).status, 201);
  const again = await until('published again', (l) => l.status !== 'acknowledged');
  assert.notEqual(again.commit, first.commit);
  const old = await client.get(CNBundles, bundle, RENDER_NAMESPACE);
  assert.equal(old.spec.capacity['latency']?.value, '5ms', 'the edge still holds the content before');
  assert.equal(old.status?.conditions?.[0]?.reason, 'Ready');
  assert.equal(again.status, 'inProgress', `not fulfilled by the bundle of 5ms: ${again.message}`);
  assert.match(again.message, new RegExp(`CNBundle ${bundle} on the edge still holds other content`));

  assert.deepEqual((await syncEdge()).errors, []);
  await until('fulfilled with the content posted again', (l) => l.status === 'fulfilled');
  const now = await client.get(CNBundles, bundle, RENDER_NAMESPACE);
  assert.equal(now.spec.capacity['latency']?.value, '10ms');
});

test("an intent the edge cannot provision reports failed through the API, with the edge's reason", async (t) => {
  // The edge refuses Deployments in the site namespace (an admission policy, as a site's own
  // rules would), so the ProvisioningRequest fails and the bundle reports ProvisioningFailed.
  const client = await testClient(t, 'tutti-gitops-test');
  const site = await testNamespace(t, client, 'site');
  const policy = `${site}-no-deployments`;
  const deploymentCreates = {
    apiGroups: ['apps'],
    apiVersions: ['v1'],
    operations: ['CREATE'],
    resources: ['deployments'],
  };
  await denyingPolicy(t, client, policy, {
    namespace: site,
    // kubernetes-types leaves `resources` out of NamedRuleWithOperations; the API has it.
    rule: deploymentCreates as NamedRuleWithOperations,
    expression: 'false',
    message: 'this site runs no new Deployments',
  });
  // Policies, like RBAC, take effect a moment after they are created.
  await waitFor(
    async () => {
      const denied = await client
        .create(
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'policy-probe', namespace: site },
            spec: {
              selector: { matchLabels: { app: 'probe' } },
              template: {
                metadata: { labels: { app: 'probe' } },
                spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
              },
            },
          },
          { dryRun: true },
        )
        .then(
          () => false,
          (err: Error) => /no new Deployments/.test(err.message),
        );
      return denied;
    },
    { description: `the admission policy to deny Deployments in ${site}`, timeoutMs: 30_000 },
  );

  const { client: edge, store, id, url, post } = await intentApi(t, { siteNamespace: site });
  const created = await post(
    JSON.stringify({ id, intent: 'edge refuses', requirements: { latency: '<5ms' } }),
  );
  assert.equal(created.status, 201);
  assert.equal(((await created.json()) as IntentResource).lifecycleStatus, 'acknowledged');

  const seen: string[] = [];
  const failed = await waitFor(
    async () => {
      const r = (await (await fetch(`${url}/${id}`)).json()) as IntentResource;
      if (seen.at(-1) !== r.lifecycleStatus) seen.push(r.lifecycleStatus);
      return r.lifecycleStatus === 'failed' && r;
    },
    { description: `intent ${id} to be reported failed`, timeoutMs: 120_000, intervalMs: 200 },
  );
  assert.ok(!seen.includes('fulfilled'), `never fulfilled, saw ${seen.join(' → ')}`);
  assert.match(
    String(failed.characteristic.find((c) => c.name === 'statusMessage')?.value),
    new RegExp(`CNBundle cn-bundle-${id}-cn-cap-001: .*this site runs no new Deployments`),
  );
  const list = (await (await fetch(url)).json()) as IntentResource[];
  assert.deepEqual(
    list.map((i) => [i.id, i.lifecycleStatus]),
    [[id, 'failed']],
  );

  // Another intent's publish leaves the status the edge reported alone, even before it is read again.
  const other = `${id}-other`;
  assert.equal(
    (await post(JSON.stringify({ id: other, intent: 'another', requirements: { jitter: '<2ms' } }))).status,
    201,
  );
  const stored = async (intent: string) => (await store.get(intent)) as IntentRecord | undefined;
  await waitFor(async () => (await stored(other))?.lifecycleStatus === 'inProgress', {
    description: `intent ${other} to be published`,
    timeoutMs: 60_000,
  });
  const reported = await stored(id);
  assert.equal(reported?.lifecycleStatus, 'failed');
  assert.match(reported.statusMessage, /this site runs no new Deployments/);
  assert.equal((await fetch(`${url}/${other}`, { method: 'DELETE' })).status, 204);
  await waitFor(
    async () => !(await edge.find(TNBundles, `tn-bundle-${other}-tn-cov-001`, RENDER_NAMESPACE)),
    {
      description: `the bundle of intent ${other} to be pruned from the edge`,
      timeoutMs: 60_000,
    },
  );
});

/** Holds the next call that passes it, once armed, until released: a request stopped at a known point. */
class Gate {
  private next?: { reached: () => void; released: Promise<void> };

  arm(): { reached: Promise<void>; release: () => void } {
    let reach = () => {};
    let release = () => {};
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.next = { reached: reach, released };
    return { reached, release };
  }

  async pass(): Promise<void> {
    const next = this.next;
    this.next = undefined;
    if (!next) return;
    next.reached();
    await next.released;
  }
}

/** The client, its list() calls passing `gate` first: a GET held while it reads the edge. */
function gatedLists(client: KubeClient, gate: Gate): KubeClient {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'list')
        return async (...args: Parameters<KubeClient['list']>) => {
          await gate.pass();
          return target.list(...args);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A proxy to the git server whose pushes pass `gate` first: a publish held before its push lands. */
async function gatedPushes(t: TestContext, repo: string, gate: Gate): Promise<string> {
  const upstream = new URL(repo);
  const proxy = createServer(async (req, res) => {
    if (req.url?.endsWith('/git-receive-pack')) await gate.pass();
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => res.destroy(err));
    req.pipe(forward);
  });
  const port = await listen(proxy, 0, '127.0.0.1');
  t.after(() => closeServer(proxy));
  return `http://127.0.0.1:${port}${upstream.pathname}`;
}

/** The intent API over a store in a fresh namespace, publishing to a git server of its own. */
/** An intent's lifecycle as GET shows it: its status, statusMessage and gitCommit. */
async function lifecycleOf(url: string, id: string) {
  const r = (await (await fetch(`${url}/${id}`)).json()) as IntentResource;
  const value = (name: string) => String(r.characteristic.find((c) => c.name === name)?.value);
  return { status: r.lifecycleStatus, message: value('statusMessage'), commit: value('gitCommit') };
}

async function serviceWithGit(
  t: TestContext,
  prefix: string,
  gates: { edgeLists?: Gate; pushes?: Gate } = {},
) {
  const client = await testClient(t, 'tutti-gitops-test');
  const namespace = await testNamespace(t, client, 'smo');
  const root = await mkdtemp(join(tmpdir(), prefix));
  const server = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
  await server.start(0);
  const repo = await server.createRepository('admin1/edge1-config');
  if (gates.edgeLists) await installCrds(client, gitopsCrds());
  const store = new IntentStore(client, namespace);
  const service = new IntentService({
    store,
    ...(gates.edgeLists ? { edge: gatedLists(client, gates.edgeLists) } : {}),
    publish: { repo: gates.pushes ? await gatedPushes(t, repo, gates.pushes) : repo, credentials },
    retryMs: 200,
    maxRetryMs: 1_000,
  });
  const api = new IntentServer(service);
  const url = `http://127.0.0.1:${await api.start(0)}${INTENT_PATH}`;
  t.after(async () => {
    await api.stop();
    await service.close();
    await server.stop();
    await rm(root, { recursive: true, force: true, maxRetries: 5 });
  });
  const bare = join(root, 'repos/admin1/edge1-config.git');
  return { client, namespace, store, server, url, bare };
}

test('an intent withdrawn while git is down is answered 202 and leaves the repository once git is back', async (t) => {
  const { server, url, bare } = await serviceWithGit(t, 'tutti-intent-retry-');
  const latencyInRepo = () =>
    git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).then(
      (yaml) => yaml.includes('retry-1-cn-cap-001'),
      () => false,
    );

  const id = 'retry-1';
  assert.equal(
    (await fetch(url, { method: 'POST', body: JSON.stringify(tmf921Intent(id, { latency: '<5ms' })) }))
      .status,
    201,
  );
  await waitFor(latencyInRepo, { description: `intent ${id} pushed`, timeoutMs: 30_000 });

  await server.stop();
  const withdrawn = await fetch(`${url}/${id}`, { method: 'DELETE' });
  assert.equal(withdrawn.status, 202);
  assert.match(
    ((await withdrawn.json()) as { message: string }).message,
    /withdrawn; publishing to git failed and is being retried/,
  );
  assert.equal((await fetch(`${url}/${id}`)).status, 404);
  assert.ok(await latencyInRepo(), 'git was down: the repository still holds the intent');

  // No request comes after this: the service's own retry takes the withdrawal to git.
  await server.start();
  await waitFor(async () => !(await latencyInRepo()), {
    description: `intent ${id} gone from the repository once git is back`,
    timeoutMs: 30_000,
  });
});

test('a stored intent edited by hand into one that cannot be published is reported failed, keeps its published expectations, and the others still publish', async (t) => {
  const { client, namespace, url, bare } = await serviceWithGit(t, 'tutti-intent-broken-');
  const inRepo = (expectationId: string) =>
    git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).then(
      (yaml) => yaml.includes(`expectation-${expectationId}`),
      () => false,
    );
  const post = async (id: string) => {
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(tmf921Intent(id, { latency: '<5ms' })),
    });
    assert.equal(res.status, 201, await res.text());
    await waitFor(() => inRepo(`${id}-cn-cap-001`), {
      description: `intent ${id} pushed`,
      timeoutMs: 30_000,
    });
  };
  const edit = async (id: string, change: (json: string) => string) => {
    const cm = await client.get(ConfigMaps, `tmf921-intent-${id}`, namespace);
    cm.data!['intent.json'] = change(cm.data!['intent.json']!);
    await client.replace(cm);
  };
  const lifecycle = (id: string) => lifecycleOf(url, id);

  await post('hand-1');
  await post('hand-2');
  // One no longer translates, the other is no longer JSON.
  await edit('hand-1', (json) => json.replace('<5ms', '5 parsecs'));
  await edit('hand-2', (json) => json.slice(0, 20));

  await post('hand-3');
  for (const id of ['hand-1', 'hand-2'])
    assert.ok(
      await inRepo(`${id}-cn-cap-001`),
      `what intent ${id} was published with stays in the repository`,
    );
  await waitFor(async () => (await lifecycle('hand-3')).status === 'inProgress', {
    description: 'intent hand-3 published',
    timeoutMs: 30_000,
  });
  const translated = await lifecycle('hand-1');
  assert.equal(translated.status, 'failed');
  assert.match(
    translated.message,
    new RegExp(
      `^ConfigMap ${namespace}/tmf921-intent-hand-1: the stored intent does not translate: expression\\.expressionValue\\.requirements\\.latency: "parsecs" is not a unit of time.*; not published: the repository keeps what was published for it before`,
    ),
  );
  const unreadable = await lifecycle('hand-2');
  assert.equal(unreadable.status, 'failed');
  assert.match(
    unreadable.message,
    new RegExp(`^ConfigMap ${namespace}/tmf921-intent-hand-2: intent\\.json is not valid JSON`),
  );
  const list = (await (await fetch(url)).json()) as IntentResource[];
  assert.deepEqual(list.map((i) => [i.id, i.lifecycleStatus]).sort(), [
    ['hand-1', 'failed'],
    ['hand-2', 'failed'],
    ['hand-3', 'inProgress'],
  ]);

  // A withdrawn broken intent does leave the repository.
  assert.equal((await fetch(`${url}/hand-1`, { method: 'DELETE' })).status, 204);
  assert.equal(await inRepo('hand-1-cn-cap-001'), false);
  assert.ok(await inRepo('hand-3-cn-cap-001'));
});

test('an intent posted without an id, whose expression names one, is stored and published under that id', async (t) => {
  const { url, bare } = await serviceWithGit(t, 'tutti-intent-named-');
  const intent = {
    name: 'Stadium 5G',
    '@type': 'Intent',
    expression: {
      '@type': 'JsonLdExpression',
      expressionLanguage: 'JSON-LD',
      expressionValue: { id: 'named-1', requirements: { latency: '<5ms' } },
    },
  };
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(intent) });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(res.headers.get('location'), `${INTENT_PATH}/named-1`);
  const body = (await res.json()) as IntentResource;
  assert.equal(body.id, 'named-1');
  assert.deepEqual(body.characteristic.find((c) => c.name === 'intentExpectationIds')?.value, [
    'named-1-cn-cap-001',
  ]);
  await waitFor(
    () =>
      git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).then(
        (yaml) => yaml.includes('intent.tutti.dev/id: named-1'),
        () => false,
      ),
    { description: 'intent named-1 pushed with its label', timeoutMs: 30_000 },
  );
  assert.equal((await fetch(`${url}/named-1`)).status, 200);
});

test('a stored intent edited by hand so that it no longer translates is reported failed at the next GET, before any publish', async (t) => {
  const { client, namespace, url, bare } = await serviceWithGit(t, 'tutti-intent-edited-');
  const id = 'edited-1';
  const res = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(tmf921Intent(id, { latency: '<5ms' })),
  });
  assert.equal(res.status, 201, await res.text());
  const lifecycle = () => lifecycleOf(url, id);
  await waitFor(async () => (await lifecycle()).status === 'inProgress', {
    description: `intent ${id} published`,
    timeoutMs: 30_000,
  });
  const head = await git(['rev-parse', 'main'], { cwd: bare });

  const cm = await client.get(ConfigMaps, `tmf921-intent-${id}`, namespace);
  cm.data!['intent.json'] = cm.data!['intent.json']!.replace('<5ms', '5 parsecs');
  await client.replace(cm);

  const failed = await lifecycle();
  assert.equal(failed.status, 'failed', failed.message);
  assert.match(
    failed.message,
    new RegExp(
      `^ConfigMap ${namespace}/tmf921-intent-${id}: the stored intent does not translate: expression\\.expressionValue\\.requirements\\.latency: "parsecs" is not a unit of time.*; not published: the repository keeps what was published for it before`,
    ),
  );
  const list = (await (await fetch(url)).json()) as IntentResource[];
  assert.deepEqual(
    list.map((i) => [i.id, i.lifecycleStatus]),
    [[id, 'failed']],
  );
  assert.equal(await git(['rev-parse', 'main'], { cwd: bare }), head, 'nothing was published meanwhile');
});

test('a status written by a GET that raced a withdrawal, or a withdrawal and a new post, leaves the newer state standing', async (t) => {
  const gate = new Gate();
  const { client, namespace, store, url, bare } = await serviceWithGit(t, 'tutti-intent-get-race-', {
    edgeLists: gate,
  });
  const id = `race-${randomBytes(4).toString('hex')}`;
  const posted = (latency: string) => tmf921Intent(id, { latency });
  const post = (latency: string) => fetch(url, { method: 'POST', body: JSON.stringify(posted(latency)) });
  const published = (latency: string) =>
    waitFor(
      async () => {
        const r = (await store.get(id)) as IntentRecord | undefined;
        const yaml = await git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).catch(() => '');
        return r?.lifecycleStatus === 'inProgress' && yaml.includes(`latency LESS_THAN ${latency}`);
      },
      { description: `intent ${id} published with latency ${latency}`, timeoutMs: 30_000 },
    );

  assert.equal((await post('<5ms')).status, 201);
  await published('5ms');
  // A GET that has read the intent, held while it reads the edge; meanwhile withdrawn and posted again.
  let held = gate.arm();
  let reading = fetch(`${url}/${id}`);
  await held.reached;
  assert.equal((await fetch(`${url}/${id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await post('<10ms')).status, 201);
  held.release();
  const answer = await reading;
  assert.equal(answer.status, 200);
  assert.deepEqual(
    ((await answer.json()) as IntentResource).expression,
    posted('<10ms').expression,
    'the GET answers the intent posted again',
  );
  const stored = (await store.get(id)) as IntentRecord;
  assert.deepEqual(stored.intent['expression'], posted('<10ms').expression, 'the withdrawn one is not back');
  await published('10ms');

  // Withdrawn while a GET reads the edge: not created again, and the GET says it is gone.
  held = gate.arm();
  reading = fetch(`${url}/${id}`);
  await held.reached;
  assert.equal((await fetch(`${url}/${id}`, { method: 'DELETE' })).status, 204);
  held.release();
  assert.equal((await reading).status, 404);
  assert.equal(await client.find(ConfigMaps, `tmf921-intent-${id}`, namespace), undefined);
});

test('a publish that raced a withdrawal and a new post does not write the withdrawn intent back', async (t) => {
  const gate = new Gate();
  const { store, url, bare } = await serviceWithGit(t, 'tutti-intent-publish-race-', { pushes: gate });
  const id = `race-${randomBytes(4).toString('hex')}`;
  const posted = (latency: string) => tmf921Intent(id, { latency });
  const post = (latency: string) => fetch(url, { method: 'POST', body: JSON.stringify(posted(latency)) });

  // The publish of the first post is held at its push, having read the intent as posted.
  const held = gate.arm();
  assert.equal((await post('<5ms')).status, 201);
  await held.reached;
  const withdrawing = fetch(`${url}/${id}`, { method: 'DELETE' });
  await waitFor(async () => !(await store.get(id)), {
    description: `intent ${id} withdrawn from the store`,
    timeoutMs: 30_000,
  });
  assert.equal((await post('<10ms')).status, 201);
  held.release();
  assert.equal((await withdrawing).status, 204);

  const stored = (await store.get(id)) as IntentRecord;
  assert.deepEqual(stored.intent['expression'], posted('<10ms').expression, 'the withdrawn one is not back');
  await waitFor(
    async () => {
      const r = (await (await fetch(`${url}/${id}`)).json()) as IntentResource;
      const yaml = await git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).catch(() => '');
      return r.lifecycleStatus === 'inProgress' && yaml.includes('latency LESS_THAN 10ms');
    },
    { description: `intent ${id} published as posted again`, timeoutMs: 30_000 },
  );
});

test('a stored intent whose broken ConfigMap is repaired is published again at the next GET, with no other request', async (t) => {
  const { client, namespace, url, bare } = await serviceWithGit(t, 'tutti-intent-repaired-');
  const id = 'repaired-1';
  const res = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(tmf921Intent(id, { latency: '<5ms' })),
  });
  assert.equal(res.status, 201, await res.text());
  const lifecycle = () => lifecycleOf(url, id);
  const edit = async (change: (json: string) => string) => {
    const cm = await client.get(ConfigMaps, `tmf921-intent-${id}`, namespace);
    cm.data!['intent.json'] = change(cm.data!['intent.json']!);
    await client.replace(cm);
  };
  // Only GETs from here on: the repaired content must reach git without another POST or DELETE.
  const published = (latency: string) =>
    waitFor(
      async () => {
        const yaml = await git(['show', 'main:apps/intent/cn_capacity.yaml'], { cwd: bare }).catch(() => '');
        const now = await lifecycle();
        return (
          yaml.includes(`latency LESS_THAN ${latency}`) &&
          now.status === 'inProgress' &&
          now.message.startsWith('published in commit')
        );
      },
      { description: `intent ${id} published with latency ${latency}`, timeoutMs: 30_000 },
    );
  await published('5ms');

  // Edited so that it no longer translates, then repaired with other content.
  let original = '';
  await edit((json) => {
    original = json;
    return json.replace('<5ms', '5 parsecs');
  });
  assert.equal((await lifecycle()).status, 'failed');
  await edit((json) => json.replace('5 parsecs', '<10ms'));
  const accepted = await lifecycle();
  assert.equal(accepted.status, 'inProgress', accepted.message);
  await published('10ms');

  // Made unreadable, then repaired with the record it had but other content.
  await edit((json) => json.slice(0, 20));
  assert.equal((await lifecycle()).status, 'failed');
  await edit(() => original.replace('<5ms', '<20ms'));
  await published('20ms');
});
