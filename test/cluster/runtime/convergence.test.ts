/**
 * The runtime keeps converging through API server outages and compaction: nothing created or
 * changed is left unreconciled, and no key is ever reconciled twice at once.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { pino } from 'pino';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { GoneError } from '../../../src/runtime/client/errors.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { Informer, watchEvents } from '../../../src/runtime/informer.js';
import { componentLogger } from '../../../src/runtime/log.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { dedicatedControlPlane, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';
import { blackholeProxied } from './fixtures/blackhole-proxy.js';
import { compactEtcd } from './fixtures/etcd.js';

const REFLECTED = 'tutti.dev/reconciled-value';

function configMap(namespace: string, name: string, value: string): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { value } };
}

/** A controller that mirrors data.value into an annotation, and reports overlapping reconciles. */
function mirrorController(mgr: Manager, namespace: string) {
  const inFlight = new Set<string>();
  const overlaps: string[] = [];
  const c = mgr.controller('mirror', { workers: 4 }).for(ConfigMaps, { namespace });
  c.reconcile(async (req, ctx) => {
    if (inFlight.has(req.key)) overlaps.push(req.key);
    inFlight.add(req.key);
    try {
      const cm = c.cache<ConfigMap>().get(req.key);
      if (!cm) return;
      const value = cm.data?.['value'] ?? '';
      if (cm.metadata?.annotations?.[REFLECTED] === value) return;
      await ctx.client.patch(ConfigMaps, req.name, req.namespace, {
        metadata: { annotations: { [REFLECTED]: value } },
      });
    } finally {
      inFlight.delete(req.key);
    }
  });
  return { overlaps };
}

async function allMirrored(
  client: KubeClient,
  namespace: string,
  expected: Map<string, string>,
): Promise<boolean> {
  const items = (await client.list(ConfigMaps, { namespace, labelSelector: '' })).items.filter((c) =>
    expected.has(c.metadata!.name!),
  );
  return (
    items.length === expected.size &&
    items.every((c) => c.metadata?.annotations?.[REFLECTED] === expected.get(c.metadata!.name!))
  );
}

describe('runtime under failure', () => {
  test('an informer and a controller converge across a 10 s kube-apiserver outage', async (t) => {
    const plane = await dedicatedControlPlane(t, 'outage');
    if (!plane) return;
    const client = await KubeClient.load(plane.kubeconfigPath);
    t.after(() => client.close());
    const ns = await testNamespace(t, client, 'outage');
    const mgr = new Manager({
      client: await KubeClient.load(plane.kubeconfigPath, { fieldManager: 'mirror' }),
      name: 'outage-test',
      informerDefaults: { backoffMaxMs: 4_000 },
    });
    const { overlaps } = mirrorController(mgr, ns);
    await mgr.start();
    t.after(() => mgr.stop());

    const expected = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      await client.create(configMap(ns, `before-${i}`, 'v1'));
      expected.set(`before-${i}`, 'v1');
    }
    await waitFor(() => allMirrored(client, ns, expected), {
      description: 'the first objects to be reconciled',
      timeoutMs: 30_000,
    });

    // Changes right before the outage race the watch being cut.
    for (let i = 0; i < 5; i++) {
      await client.patch(ConfigMaps, `before-${i}`, ns, { data: { value: 'v2' } });
      expected.set(`before-${i}`, 'v2');
    }
    await plane.stopComponent('kube-apiserver', { kill: true });
    await new Promise((r) => setTimeout(r, 10_000)); // the outage itself, not a wait for a condition
    await plane.startComponent('kube-apiserver');

    for (let i = 0; i < 5; i++) {
      await client.create(configMap(ns, `after-${i}`, 'a1'));
      expected.set(`after-${i}`, 'a1');
      await client.patch(ConfigMaps, `before-${i}`, ns, { data: { value: 'v3' } });
      expected.set(`before-${i}`, 'v3');
    }
    await waitFor(() => allMirrored(client, ns, expected), {
      description: 'every object created or changed around the outage to be reconciled',
      timeoutMs: 90_000,
    });
    assert.deepEqual(overlaps, [], 'no key may be reconciled twice at once');
  });

  test('a watch resumed from a compacted resourceVersion relists and converges', async (t) => {
    const plane = await dedicatedControlPlane(t, 'compact');
    if (!plane) return;
    const client = await KubeClient.load(plane.kubeconfigPath);
    t.after(() => client.close());
    const ns = await testNamespace(t, client, 'compact');
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, plane.kubeconfigPath);
    const informerClient = await KubeClient.load(kubeconfig);
    t.after(() => informerClient.close());

    for (let i = 0; i < 10; i++) await client.create(configMap(ns, `cm-${i}`, 'old'));
    const remadeUid = (await client.create(configMap(ns, 'cm-remade', 'old'))).metadata!.uid!;
    const informer = new Informer(informerClient, ConfigMaps, {
      namespace: ns,
      backoffInitialMs: 200,
      backoffMaxMs: 1_000,
      logger: componentLogger('compaction-test'),
    });
    const deleted: string[] = [];
    const remade: string[] = [];
    informer.addHandler({
      add: (o) => void (o.metadata!.name === 'cm-remade' && remade.push(`add ${o.metadata!.uid}`)),
      update: (_old, o) =>
        void (o.metadata!.name === 'cm-remade' && remade.push(`update ${o.metadata!.uid}`)),
      delete: (o) => {
        deleted.push(o.metadata!.name!);
        if (o.metadata!.name === 'cm-remade') remade.push(`delete ${o.metadata!.uid}`);
      },
    });
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    const staleRv = informer.lastSyncResourceVersion;

    // Partition the informer from the server, change things, and compact history away.
    proxy.cut();
    for (let i = 0; i < 5; i++) await client.patch(ConfigMaps, `cm-${i}`, ns, { data: { value: 'new' } });
    for (let i = 5; i < 10; i++) await client.delete(ConfigMaps, `cm-${i}`, ns);
    await client.create(configMap(ns, 'cm-added', 'new'));
    // Deleted and made again under its name: another object, with another uid.
    await client.delete(ConfigMaps, 'cm-remade', ns);
    const newUid = (await client.create(configMap(ns, 'cm-remade', 'new'))).metadata!.uid!;
    remade.length = 0; // what the first list delivered
    await plane.stopComponent('kube-apiserver');
    await compactEtcd(await plane.etcdUrl());
    await plane.startComponent('kube-apiserver');

    // The stale resourceVersion really is gone: a watch from it gets 410.
    assert.equal(await watchOutcome(client, ns, staleRv), 'gone');

    proxy.restore();
    const truth = async () =>
      new Map(
        (await client.list(ConfigMaps, { namespace: ns })).items.map((c) => [
          c.metadata!.name!,
          c.metadata!.resourceVersion!,
        ]),
      );
    await waitFor(
      async () => {
        const want = await truth();
        const have = informer.list();
        return (
          have.length === want.size &&
          have.every((o) => want.get(o.metadata!.name!) === o.metadata!.resourceVersion)
        );
      },
      { description: 'the informer to relist and match the server', timeoutMs: 60_000 },
    );
    assert.deepEqual(deleted.sort(), ['cm-5', 'cm-6', 'cm-7', 'cm-8', 'cm-9', 'cm-remade']);
    // Not an update of the old object, which a status-only filter would drop: a delete and an add.
    assert.deepEqual(remade, [`delete ${remadeUid}`, `add ${newUid}`]);
    assert.equal(informer.get(`${ns}/cm-0`)?.data?.['value'], 'new');
    assert.ok(informer.get(`${ns}/cm-added`));
  });
});

test('a watch whose request the API server never answers is given up by the liveness timeout', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'silent-watch');
  const { proxy, kubeconfig } = await blackholeProxied(t);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  const informer = new Informer(client, ConfigMaps, {
    namespace: ns,
    livenessTimeoutMs: 2_000,
    backoffInitialMs: 200,
    backoffMaxMs: 1_000,
    logger: componentLogger('silent-watch-test'),
  });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync();

  // The watch goes quiet and is restarted; the new watch's connection is never answered.
  proxy.goSilent();
  await waitFor(() => proxy.swallowed > 0, {
    description: 'the informer to open a new watch while the server is silent',
    timeoutMs: 15_000,
  });
  proxy.heal();
  await admin.create(configMap(ns, 'after-silence', 'v'));
  await waitFor(() => informer.get(`${ns}/after-silence`), {
    description: 'the informer to see an object created once the server answers again',
    timeoutMs: 15_000,
  });
});

test('a watch whose connection breaks says so in its log, then resumes', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'broken-watch');
  const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) warnings.push(JSON.parse(l).err ?? '');
        done();
      },
    }),
  );
  const informer = new Informer(client, ConfigMaps, {
    namespace: ns,
    backoffInitialMs: 200,
    backoffMaxMs: 1_000,
    logger,
  });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync();
  // Synced means listed; an object seen after that came through the open watch.
  await admin.create(configMap(ns, 'before-break', 'v'));
  await waitFor(() => informer.get(`${ns}/before-break`), {
    description: 'the watch to deliver an event',
    timeoutMs: 10_000,
  });
  proxy.cut();
  await waitFor(() => warnings.length > 0, { description: 'a warning about the watch', timeoutMs: 10_000 });
  assert.match(warnings[0]!, /connection to the API server broke mid-watch/);
  proxy.restore();
  await admin.create(configMap(ns, 'after-break', 'v'));
  await waitFor(() => informer.get(`${ns}/after-break`), {
    description: 'the informer to see an object created after the watch resumed',
    timeoutMs: 15_000,
  });
});

/** Compacts etcd's whole history up to its current revision, through etcd's JSON gateway. */
async function watchOutcome(client: KubeClient, namespace: string, rv: string): Promise<'gone' | 'events'> {
  try {
    const res = await client.watchStream(ConfigMaps, { namespace, resourceVersion: rv, timeoutSeconds: 5 });
    try {
      for await (const e of watchEvents(res)) {
        return e.type === 'ERROR' && (e.object as { code?: number }).code === 410 ? 'gone' : 'events';
      }
      return 'events';
    } finally {
      res.destroy();
    }
  } catch (err) {
    if (err instanceof GoneError) return 'gone';
    throw err;
  }
}
