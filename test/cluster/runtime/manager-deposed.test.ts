import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';

test('a deposed leader: a reconcile under way when the lease is lost writes nothing after', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'deposed');
  const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  const mgr = new Manager({
    client,
    name: 'deposed',
    leaderElection: { leaseNamespace: ns },
    logger: pino({ level: 'silent' }),
  });
  // A reconcile that takes long (it ignores ctx.signal, as a long computation would), then writes.
  let reconciling = false;
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  let outcome: 'written' | Error | undefined;
  mgr
    .controller('late-writer')
    .for(ConfigMaps, { namespace: ns })
    .reconcile(async (req, ctx) => {
      // Only the first: a term regained afterwards may write, and reconciles the key again.
      if (req.name !== 'work' || reconciling) return;
      reconciling = true;
      await resumed;
      try {
        await ctx.client.patch(ConfigMaps, req.name, req.namespace, {
          metadata: { annotations: { 'tutti.dev/written-by': 'deposed-leader' } },
        });
        outcome = 'written';
      } catch (err) {
        outcome = err as Error;
      }
    });
  await mgr.start();
  t.after(() => {
    resume();
    return mgr.stop();
  });
  await waitFor(() => mgr.isLeader(), { description: 'the manager to lead', timeoutMs: 15_000 });
  await admin.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'work', namespace: ns } });
  await waitFor(() => reconciling, { description: 'the reconcile to be under way', timeoutMs: 15_000 });

  proxy.cut(); // renewals fail: the lease is lost after the renew deadline
  await waitFor(() => !mgr.isLeader(), { description: 'the lease to be lost', timeoutMs: 20_000 });
  proxy.restore(); // the API server answers again: only the fence can stop the write now
  resume();
  await waitFor(() => outcome, { description: 'the reconcile to try its write', timeoutMs: 15_000 });
  assert.ok(outcome instanceof Error, 'the deposed leader wrote after it knew it had lost the lease');
  assert.match(outcome.message, /leader lease lost/);
  const cm = await admin.get(ConfigMaps, 'work', ns);
  assert.equal(cm.metadata?.annotations?.['tutti.dev/written-by'], undefined);
});

test("a leader's many requests at once through the fenced client raise no listener-leak warning", async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'fenced');
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const mgr = new Manager({
    client: admin,
    name: 'fenced',
    leaderElection: { leaseNamespace: ns },
    logger: pino({ level: 'silent' }),
  });
  let created: number | undefined;
  mgr.add({
    name: 'burst',
    async start(signal, client) {
      // Each request in flight listens on the term's fence.
      const made = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          client!.create({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `cm-${i}`, namespace: ns },
          }),
        ),
      );
      created = made.length;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
  });
  await mgr.start();
  t.after(() => mgr.stop());
  await waitFor(() => created, { description: 'the 40 ConfigMaps to be created', timeoutMs: 30_000 });
  // A warning is emitted on the next tick after the listener that exceeds the limit.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warnings.map((w) => w.message),
    [],
  );
});
