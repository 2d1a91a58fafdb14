import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { type NetworkIntent, NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { conductorOperatorModule } from '../../../src/conductor/operator.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { watchEvents } from '../../../src/runtime/informer.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { createDeployment, dropIntent, handoffDir, intent, readState, startLoop } from './support.js';

const WAIT = { timeoutMs: 60_000, intervalMs: 100 };

/** The conductor's controller in this process, its NetworkIntents those of the test's namespace. */
async function startConductor(t: TestContext, ns: string): Promise<void> {
  const client = await KubeClient.load(testKubeconfig(), { fieldManager: 'tutti-operator' });
  const mgr = new Manager({ client, name: `conductor-${ns}` });
  await conductorOperatorModule.setup({ mgr, systemNamespace: ns, options: { 'intent-namespace': ns } });
  await mgr.start();
  t.after(async () => {
    await mgr.stop();
    client.close();
  });
}

/** spec.replicas of Deployment `name` at each of its watch events, from now on. */
async function replicasSeen(t: TestContext, client: KubeClient, ns: string, name: string): Promise<number[]> {
  const seen: number[] = [];
  const watch = await client.watchStream(Deployments, {
    namespace: ns,
    fieldSelector: `metadata.name=${name}`,
  });
  t.after(() => watch.destroy());
  void (async () => {
    for await (const e of watchEvents<Deployment>(watch)) seen.push(e.object.spec?.replicas ?? -1);
  })().catch(() => {});
  return seen;
}

function replicasOf(client: KubeClient, ns: string, want: number) {
  return waitFor(
    async () => ((await client.get(Deployments, 'web', ns)).spec?.replicas === want ? true : undefined),
    { description: `Deployment ${ns}/web at ${want} replicas`, ...WAIT },
  );
}

function readyReason(client: KubeClient, ns: string, name: string, reason: string) {
  return waitFor(
    async () => {
      const ni = await client.get(NetworkIntents, name, ns);
      return findCondition(ni.status?.conditions, 'Ready')?.reason === reason ? ni : undefined;
    },
    { description: `NetworkIntent ${ns}/${name} Ready reason ${reason}`, ...WAIT },
  );
}

describe('NetworkIntents on one Deployment', () => {
  test('an edited intent file: the newest NetworkIntent acts, the older says it is superseded; deleted, the older acts again', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'supersede');
    await createDeployment(client, ns, 'web');
    await startConductor(t, ns);
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs);

    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web', { replicas: 3 }));
    const first = await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'the first version submitted',
      ...WAIT,
    });
    const oldName = first.cr_name!.split('/')[1]!;
    await replicasOf(client, ns, 3);
    // creationTimestamp has whole seconds: the edit comes in a later one, so that it is the newer.
    const created = Date.parse((await client.get(NetworkIntents, oldName, ns)).metadata!.creationTimestamp!);
    await waitFor(() => Date.now() >= created + 1_000, { description: 'the next second', timeoutMs: 5_000 });

    const seen = await replicasSeen(t, client, ns, 'web');
    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web', { replicas: 5 }));
    const second = await waitFor(
      async () => {
        const rec = (await readState(dirs.dir))['intent-web.json'];
        return rec && rec.sha256 !== first.sha256 ? rec : undefined;
      },
      { description: 'the edited version submitted', ...WAIT },
    );
    const newName = second.cr_name!.split('/')[1]!;
    await replicasOf(client, ns, 5);
    const old = await readyReason(client, ns, oldName, 'Superseded');
    assert.equal(old.status?.phase, 'Validated');
    assert.match(
      old.status!.message!,
      new RegExp(`NetworkIntent ${ns}/${newName} acts on Deployment ${ns}/web`),
    );
    assert.equal(findCondition(old.status?.conditions, 'Ready')?.status, 'False');

    // Every Deployment event wakes both intents: set it off course a few times; only the newest
    // puts it back.
    for (let i = 0; i < 3; i++) {
      await client.patch(Deployments, 'web', ns, { spec: { replicas: 1 } });
      const back = await waitFor(
        async () => {
          const r = (await client.get(Deployments, 'web', ns)).spec?.replicas;
          return r !== 1 ? r : undefined;
        },
        { description: 'the Deployment scaled back', ...WAIT },
      );
      assert.equal(back, 5);
    }
    await readyReason(client, ns, newName, 'Scaled');
    const afterFive = seen.slice(seen.indexOf(5));
    assert.ok(afterFive.length >= 6, `several Deployment events observed (${seen.join(', ')})`);
    assert.ok(!afterFive.includes(3), `the Deployment never went back to 3 (${seen.join(', ')})`);

    // The newest deleted, the older one acts again.
    await client.delete(NetworkIntents, newName, ns);
    await replicasOf(client, ns, 3);
    const again = await waitFor(
      async () => {
        const ni: NetworkIntent = await client.get(NetworkIntents, oldName, ns);
        return findCondition(ni.status?.conditions, 'Ready')?.reason !== 'Superseded' ? ni : undefined;
      },
      { description: `NetworkIntent ${ns}/${oldName} acting again`, ...WAIT },
    );
    assert.ok(['Deploying', 'Deployed'].includes(again.status!.phase!));
  });
});
