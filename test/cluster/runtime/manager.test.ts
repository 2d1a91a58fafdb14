import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { ClusterRole } from 'kubernetes-types/rbac/v1.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { MAX_REQUEST_SOCKETS } from '../../../src/runtime/client/connection.js';
import { AlreadyExistsError } from '../../../src/runtime/client/errors.js';
import {
  ClusterRoles,
  ConfigMaps,
  CustomResourceDefinitions,
  Leases,
} from '../../../src/runtime/client/kinds.js';
import { kind } from '../../../src/runtime/client/types.js';
import { type Condition, findCondition, setCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Informer, OWNER_UID_INDEX } from '../../../src/runtime/informer.js';
import { Manager } from '../../../src/runtime/manager.js';
import { addFinalizer, removeFinalizer, updateStatus } from '../../../src/runtime/objects.js';
import { TerminalError } from '../../../src/runtime/reconcile.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';
import { blackholeProxied } from './fixtures/blackhole-proxy.js';

/** Parses the Prometheus text format into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('manager', () => {
  test('requests share a bounded pool of connections; watches hold sockets of their own', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'pool');
    const client = await KubeClient.load(await testKubeconfig());
    t.after(() => client.close());
    const count = (sockets: NodeJS.ReadOnlyDict<unknown[]>) =>
      Object.values(sockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    // More watches than the pool has sockets: requests must still get through.
    const watches = Array.from(
      { length: MAX_REQUEST_SOCKETS + 8 },
      (_, i) => new Informer(client, ConfigMaps, { namespace: ns, labelSelector: `watch=${i}` }),
    );
    t.after(() => Promise.all(watches.map((w) => w.stop())));
    for (const w of watches) w.start();
    await Promise.all(watches.map((w) => w.waitForSync()));
    const { agent, streamAgent } = client.transport.connection;
    // Synced means listed; each watch opens right after.
    await waitFor(() => count(streamAgent.sockets) >= watches.length, {
      description: 'a socket per watch',
      timeoutMs: 30_000,
    });

    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, count(agent.sockets));
    }, 1);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        client.create<ConfigMap>({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${i}`, namespace: ns },
        }),
      ),
    );
    clearInterval(sample);
    assert.ok(most > 1 && most <= MAX_REQUEST_SOCKETS, `${most} request sockets at once`);
  });

  test('createOnly creates without parsing the answer, frees its socket, and fails as create does', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'create-only');
    const client = await KubeClient.load(await testKubeconfig());
    t.after(() => client.close());
    const cm = (i: number): ConfigMap => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace: ns },
      data: { i: String(i) },
    });
    for (let i = 0; i < 20; i++) await client.createOnly(cm(i));
    // One after another: each drained answer gave its socket back for the next request.
    const { agent } = client.transport.connection;
    const open = Object.values(agent.sockets).reduce((n, l) => n + (l?.length ?? 0), 0);
    const free = Object.values(agent.freeSockets).reduce((n, l) => n + (l?.length ?? 0), 0);
    assert.equal(open + free, 1, `${open} busy and ${free} free sockets after 20 sequential creates`);
    const listed = await admin.list(ConfigMaps, { namespace: ns, labelSelector: '' });
    assert.deepEqual(
      listed.items
        .filter((c) => c.metadata?.name?.startsWith('cm-'))
        .map((c) => c.data?.['i'])
        .sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    await assert.rejects(client.createOnly(cm(3)), AlreadyExistsError);
  });

  test('an informer stopped right after it synced stops at once (no watch left hanging)', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'stop');
    for (let round = 0; round < 3; round++) {
      const informer = new Informer(admin, ConfigMaps, { namespace: ns });
      informer.start();
      await informer.waitForSync();
      const stopped = await Promise.race([
        informer.stop().then(() => 'stopped' as const),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref()),
      ]);
      assert.equal(stopped, 'stopped', `round ${round}: stop() did not return within 10 s`);
    }
  });

  test('an informer stopped while its discovery or list gets no answer stops at once', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'stop-silent');
    for (const waitingOn of ['discovery', 'list']) {
      const { proxy, kubeconfig } = await blackholeProxied(t);
      const client = await KubeClient.load(kubeconfig);
      t.after(() => client.close());
      if (waitingOn === 'list') await client.list(ConfigMaps, { namespace: ns }); // discovery done
      proxy.goSilent();
      const informer = new Informer(client, ConfigMaps, { namespace: ns });
      informer.start();
      const stopped = await Promise.race([
        informer.stop().then(() => 'stopped' as const),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref()),
      ]);
      assert.equal(stopped, 'stopped', `stop() waiting on its ${waitingOn} did not return within 10 s`);
    }
  });

  test('a leader-only runnable of a lost term has returned before a regained term starts it again', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'terms');
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    const mgr = new Manager({
      client: await KubeClient.load(kubeconfig),
      name: 'terms',
      leaderElection: { leaseNamespace: ns },
    });
    let running = 0;
    let starts = 0;
    const overlaps: number[] = [];
    mgr.add({
      name: 'step-finisher',
      async start(signal) {
        starts++;
        if (++running > 1) overlaps.push(running);
        // Stopping finishes the step under way first, as a real loop's would.
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        await new Promise((resolve) => setTimeout(resolve, 6_000));
        running--;
      },
    });
    await mgr.start();
    t.after(() => mgr.stop());
    await waitFor(() => starts === 1, {
      description: 'the runnable to start with leadership',
      timeoutMs: 10_000,
    });

    proxy.cut(); // renewals fail: leadership is lost after the renew deadline
    await waitFor(() => !mgr.isLeader(), { description: 'leadership to be lost', timeoutMs: 20_000 });
    proxy.restore(); // the lease still names this process: it may take it again at once
    await waitFor(() => starts === 2, {
      description: 'the runnable to start again with leadership',
      timeoutMs: 30_000,
    });
    assert.deepEqual(overlaps, [], 'two terms of the runnable ran at once');
  });

  test('owns(): a namespaced child brings back its cluster-scoped owner', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'owns');
    const name = `tutti-owner-${ns}`;
    const owner = await admin.create<ClusterRole>({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels: { 'tutti.dev/test': ns } },
    });
    t.after(() => admin.delete(ClusterRoles, name).catch(() => {}));
    const mgr = new Manager({ client: await testClient(t), name: 'owns-test' });
    const children = new Map<string, number>();
    const c = mgr
      .controller('cluster-owner')
      .for(ClusterRoles, { labelSelector: `tutti.dev/test=${ns}` })
      .owns(ConfigMaps, { namespace: ns })
      .reconcile(async (req) => {
        const role = c.cache<ClusterRole>().get(req.key);
        if (role)
          children.set(
            req.key,
            mgr.informer(ConfigMaps, { namespace: ns }).byIndex(OWNER_UID_INDEX, role.metadata!.uid!).length,
          );
      });
    await mgr.start();
    t.after(() => mgr.stop());
    await waitFor(() => children.get(name) === 0, {
      description: 'the owner to be reconciled',
      timeoutMs: 10_000,
    });

    await admin.create<ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'child',
        namespace: ns,
        ownerReferences: [
          {
            apiVersion: owner.apiVersion!,
            kind: owner.kind!,
            name,
            uid: owner.metadata!.uid!,
            controller: true,
          },
        ],
      },
    });
    await waitFor(() => children.get(name) === 1, {
      description: 'the owner to be reconciled once its child exists',
      timeoutMs: 10_000,
    });
  });

  test('raw() answers JSON paths parsed and plain-text paths as their text', async (t) => {
    const client = await testClient(t);
    assert.match((await client.raw<{ gitVersion: string }>('/version')).gitVersion, /^v1\./);
    assert.equal(await client.raw<string>('/readyz'), 'ok');
  });

  test('an index follows its objects as they join, move between and leave its values', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'index');
    const informer = new Informer<ConfigMap>(admin, ConfigMaps, { namespace: ns });
    informer.addIndex('team', (cm) => (cm.metadata?.labels?.['team'] ? [cm.metadata.labels['team']] : []));
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    const names = (team: string) =>
      informer
        .byIndex('team', team)
        .map((cm) => cm.metadata!.name)
        .sort();
    const settled = (want: Record<string, string[]>, description: string) =>
      waitFor(() => Object.entries(want).every(([team, n]) => names(team).join() === n.join()), {
        description,
        timeoutMs: 15_000,
      });
    const labelled = (name: string, team: string): ConfigMap => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: ns, labels: { team } },
    });
    // One object under a value, then two, then one again, then none: each way a value's keys change.
    await admin.create(labelled('a', 'blue'));
    await settled({ blue: ['a'] }, 'a under blue');
    await admin.create(labelled('b', 'blue'));
    await admin.create(labelled('c', 'blue'));
    await settled({ blue: ['a', 'b', 'c'] }, 'a, b and c under blue');
    await admin.apply(labelled('b', 'red'), { fieldManager: 'test' });
    await admin.delete(ConfigMaps, 'c', ns);
    await settled({ blue: ['a'], red: ['b'] }, 'b moved to red, c gone');
    await admin.apply(labelled('a', 'red'), { fieldManager: 'test' });
    await settled({ blue: [], red: ['a', 'b'] }, 'a moved to red');
    await admin.delete(ConfigMaps, 'b', ns);
    await admin.delete(ConfigMaps, 'a', ns);
    await settled({ red: [] }, 'both deleted');
    assert.throws(() => informer.byIndex('colour', 'red'), /no index named colour/);
  });

  test('a start called off before the caches sync stops what started (health server, informers) and rejects with the reason', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'called-off');
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    const client = await KubeClient.load(kubeconfig, { fieldManager: 'called-off-test' });
    t.after(() => client.close());
    // The informer cannot list: the caches never sync.
    proxy.cut();
    const mgr = new Manager({
      client,
      name: 'called-off',
      healthPort: 0,
      healthHost: '127.0.0.1',
      leaderElection: { leaseNamespace: ns },
      informerDefaults: { backoffInitialMs: 100, backoffMaxMs: 500 },
    });
    mgr.informer(ConfigMaps, { namespace: ns });
    const abort = new AbortController();
    const starting = mgr.start(abort.signal);
    t.after(() => mgr.stop());
    const port = await waitFor(() => mgr.healthPort, {
      description: 'the health server to listen',
      timeoutMs: 10_000,
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 500);
    const reason = new Error('called off');
    abort.abort(reason);
    await assert.rejects(starting, (err) => err === reason);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'the health server is closed');
    // Leader election begins once the caches sync: it never began.
    proxy.restore();
    assert.equal(await admin.find(Leases, 'called-off', ns), undefined);
  });

  test('/readyz fails until the caches sync; /metrics reports reconciles with controller-runtime names', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'mgr');
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    proxy.cut();

    const mgr = new Manager({
      client: await KubeClient.load(kubeconfig, { fieldManager: 'metrics-test' }),
      name: 'metrics-test',
      healthPort: 0,
      healthHost: '127.0.0.1',
      informerDefaults: { backoffInitialMs: 100, backoffMaxMs: 500 },
    });
    const c = mgr.controller('metrics-demo').for(ConfigMaps, { namespace: ns });
    c.reconcile(async (req) => {
      const cm = c.cache<ConfigMap>().get(req.key);
      if (cm?.data?.['mode'] === 'terminal') throw new TerminalError('cannot be fixed by retrying');
      if (cm?.data?.['mode'] === 'fail') throw new Error('transient');
    });
    const started = mgr.start();
    t.after(() => mgr.stop());
    const port = await waitFor(() => mgr.healthPort, {
      description: 'the health server to listen',
      timeoutMs: 10_000,
    });
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

    assert.equal((await get('/healthz')).status, 200);
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 500, 'not ready while the API server is unreachable');
    assert.match(
      await notReady.text(),
      new RegExp(`\\[-\\]informers-synced failed: not synced: ConfigMap \\(v1\\) in namespace ${ns}`),
    );
    assert.deepEqual(mgr.unsynced(), [`ConfigMap (v1) in namespace ${ns}`]);

    proxy.restore();
    await started;
    assert.equal((await get('/readyz')).status, 200);

    await admin.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ok', namespace: ns },
      data: { mode: 'ok' },
    });
    await admin.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'bad', namespace: ns },
      data: { mode: 'fail' },
    });
    await admin.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'dead', namespace: ns },
      data: { mode: 'terminal' },
    });

    const metrics = await waitFor(
      async () => {
        const m = parseMetrics(await (await get('/metrics')).text());
        const errors = m.get('controller_runtime_reconcile_errors_total{controller="metrics-demo"}') ?? 0;
        // Retries of `bad` alone can reach three errors before `dead` is handled: wait for both.
        const terminal =
          m.get('controller_runtime_terminal_reconcile_errors_total{controller="metrics-demo"}') ?? 0;
        return (m.get('controller_runtime_reconcile_total{controller="metrics-demo",result="success"}') ??
          0) >= 1 &&
          errors >= 3 &&
          terminal >= 1
          ? m
          : undefined;
      },
      { description: 'reconcile metrics to appear', timeoutMs: 60_000 },
    );
    assert.equal(
      metrics.get('controller_runtime_terminal_reconcile_errors_total{controller="metrics-demo"}'),
      1,
      'terminal errors are not retried',
    );
    assert.ok(
      (metrics.get('workqueue_retries_total{name="metrics-demo",controller="metrics-demo"}') ?? 0) >= 2,
      'the failing key is retried',
    );
    assert.ok((metrics.get('workqueue_adds_total{name="metrics-demo",controller="metrics-demo"}') ?? 0) >= 3);
    assert.ok(metrics.has('workqueue_depth{name="metrics-demo",controller="metrics-demo"}'));
    assert.ok(
      (metrics.get('controller_runtime_reconcile_time_seconds_count{controller="metrics-demo"}') ?? 0) >= 3,
    );
    assert.ok(
      metrics.has('workqueue_queue_duration_seconds_count{name="metrics-demo",controller="metrics-demo"}'),
    );
    assert.ok(
      metrics.has('workqueue_work_duration_seconds_count{name="metrics-demo",controller="metrics-demo"}'),
    );
  });

  test('finalizer and status helpers under conflicting writers never lose a write', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin, 'conflict');
    await admin.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'contended', namespace: ns },
    });
    const writers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => KubeClient.load(testKubeconfig(), { fieldManager: `writer-${i}` })),
    );
    t.after(() => {
      for (const w of writers) w.close();
    });

    const cm = await admin.get(ConfigMaps, 'contended', ns);
    await Promise.all(writers.map((w, i) => addFinalizer(w, ConfigMaps, cm, `tutti.dev/finalizer-${i}`)));
    const withAll = await admin.get(ConfigMaps, 'contended', ns);
    assert.deepEqual(
      [...(withAll.metadata?.finalizers ?? [])].sort(),
      writers.map((_, i) => `tutti.dev/finalizer-${i}`).sort(),
    );
    await Promise.all(
      writers.slice(0, 4).map((w, i) => removeFinalizer(w, ConfigMaps, withAll, `tutti.dev/finalizer-${i}`)),
    );
    assert.deepEqual(
      [...((await admin.get(ConfigMaps, 'contended', ns)).metadata?.finalizers ?? [])].sort(),
      [4, 5, 6, 7].map((i) => `tutti.dev/finalizer-${i}`),
    );
    await Promise.all(
      writers.slice(4).map((w, i) => removeFinalizer(w, ConfigMaps, withAll, `tutti.dev/finalizer-${i + 4}`)),
    );

    // A CRD with a status subresource: each writer sets its own condition concurrently.
    const group = `${ns}.conflict.tutti.dev`;
    const crd: CustomResourceDefinition = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  status: {
                    type: 'object',
                    properties: {
                      conditions: {
                        type: 'array',
                        items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                      },
                    },
                  },
                },
              } as never,
            },
          },
        ],
      },
    };
    await installCrds(admin, [crd]);
    t.after(() => admin.delete(CustomResourceDefinitions, crd.metadata!.name!));
    type Gadget = {
      apiVersion: string;
      kind: string;
      metadata: { name: string; namespace: string };
      status?: { conditions?: Condition[] };
    };
    const Gadgets = kind<Gadget>(`${group}/v1`, 'Gadget');
    await admin.create<Gadget>({
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g', namespace: ns },
    });
    await Promise.all(
      writers.map((w, i) =>
        updateStatus(w, Gadgets, 'g', ns, (g) => {
          g.status = {
            ...g.status,
            conditions: setCondition(g.status?.conditions, {
              type: `Writer${i}`,
              status: 'True',
              reason: 'Written',
            }),
          };
          return true;
        }),
      ),
    );
    const final = await admin.get(Gadgets, 'g', ns);
    for (let i = 0; i < writers.length; i++) {
      assert.equal(
        findCondition(final.status?.conditions, `Writer${i}`)?.status,
        'True',
        `condition of writer ${i} kept`,
      );
    }
  });
});
