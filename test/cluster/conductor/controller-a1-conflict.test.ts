import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import type { Event } from 'kubernetes-types/events/v1.js';
import { type NetworkIntent, NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { A1PolicyClient } from '../../../src/conductor/a1.js';
import { A1PolicySync } from '../../../src/conductor/a1-sync.js';
import { setupNetworkIntentController } from '../../../src/conductor/controller.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Events } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { type A1Mediator, a1Mediator } from '../../support/a1-mediator.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';

const WAIT = { timeoutMs: 60_000, intervalMs: 200 };
const RUN_LABEL = 'tutti.dev/test-run';

/**
 * Two NetworkIntents of one name in two namespaces, under one controller watching every
 * namespace (only intents labelled for this test, so that tests sharing the plane are left alone)
 * with one A1 mediator: they claim the same policy id, `policy-<name>`.
 */
async function twoClaimants(t: TestContext) {
  const client = await testClient(t);
  await installCrds(client, conductorCrds());
  const a1 = await a1Mediator(t);
  const run = randomBytes(4).toString('hex');
  const name = `shared-${run}`;
  const namespaces = [
    await testNamespace(t, client, 'nic-dup-a'),
    await testNamespace(t, client, 'nic-dup-b'),
  ];

  const mgrClient = await KubeClient.load(testKubeconfig(), { fieldManager: 'tutti-operator' });
  const mgr = new Manager({ client: mgrClient, name: `conductor-${run}` });
  setupNetworkIntentController(mgr, {
    a1: new A1PolicySync(new A1PolicyClient({ endpoint: a1.url }), { deleteRetryMs: 50 }),
    labelSelector: `${RUN_LABEL}=${run}`,
  });
  await mgr.start();
  t.after(async () => {
    await mgr.stop();
    mgrClient.close();
  });

  // Other intent types touch no workload, so the policy is all there is to watch.
  const create = (ns: string, replicas: number) =>
    waitFor(
      () =>
        client.create<NetworkIntent>({
          apiVersion: 'intent.nephoran.com/v1alpha1',
          kind: 'NetworkIntent',
          metadata: { name, namespace: ns, labels: { [RUN_LABEL]: run } },
          spec: { intentType: 'configuration', target: 'ran', namespace: ns, replicas, source: 'user' },
        }),
      { description: `NetworkIntent ${ns}/${name} created`, timeoutMs: 10_000 },
    );
  const first = await create(namespaces[0]!, 1);
  const second = await create(namespaces[1]!, 2);
  // Creation times have a resolution of one second: the owner is the older, then the first by namespace.
  const [owner, other] = [first, second].sort(
    (a, b) =>
      a.metadata!.creationTimestamp!.localeCompare(b.metadata!.creationTimestamp!) ||
      a.metadata!.namespace!.localeCompare(b.metadata!.namespace!),
  ) as [NetworkIntent, NetworkIntent];
  const key = `100/policy-${name}`;
  const policy = (ni: NetworkIntent) => ({
    intentType: 'configuration',
    target: 'ran',
    namespace: ni.metadata!.namespace,
    replicas: ni.spec.replicas,
    source: 'user',
  });
  return { client, a1, name, key, owner, other, policy };
}

function conflictOf(client: KubeClient, ni: NetworkIntent) {
  return waitFor(
    async () => {
      const current = await client.get(NetworkIntents, ni.metadata!.name!, ni.metadata!.namespace);
      const c = findCondition(current.status?.conditions, 'A1PolicySynced');
      return c?.reason === 'PolicyIdConflict' ? c : undefined;
    },
    {
      description: `NetworkIntent ${ni.metadata!.namespace}/${ni.metadata!.name} to report the conflict`,
      ...WAIT,
    },
  );
}

function gone(client: KubeClient, ni: NetworkIntent) {
  return waitFor(
    async () => !(await client.find(NetworkIntents, ni.metadata!.name!, ni.metadata!.namespace)),
    {
      description: `NetworkIntent ${ni.metadata!.namespace}/${ni.metadata!.name} to be deleted`,
      ...WAIT,
    },
  );
}

function puts(a1: A1Mediator, name: string): number {
  return a1.requests.filter((r) => r === `PUT /A1-P/v2/policytypes/100/policies/policy-${name}`).length;
}

describe('NetworkIntent controller: one A1 policy id claimed from two namespaces', () => {
  test('the older intent owns the policy; the newer reports the conflict and its deletion leaves the policy', async (t) => {
    const { client, a1, name, key, owner, other, policy } = await twoClaimants(t);
    const ownerRef = `${owner.metadata!.namespace}/${name}`;

    const condition = await conflictOf(client, other);
    assert.equal(condition.status, 'False');
    assert.equal(
      condition.message,
      `A1 policy policy-${name} belongs to NetworkIntent ${ownerRef} (the oldest of that name); this intent's policy is not synced`,
    );
    await waitFor(() => a1.policies.has(key), { description: 'the policy PUT', ...WAIT });
    assert.deepEqual(a1.policies.get(key), policy(owner), "the owner's body, never the other's");
    assert.equal(puts(a1, name), 1, 'one PUT, by the owner');
    const ownerNow = await client.get(NetworkIntents, name, owner.metadata!.namespace);
    assert.equal(findCondition(ownerNow.status?.conditions, 'A1PolicySynced'), undefined);
    const event = await waitFor(
      async () =>
        (await client.list<Event>(Events, { namespace: other.metadata!.namespace })).items.find(
          (e) => e.reason === 'PolicyIdConflict' && e.regarding?.name === name,
        ),
      { description: 'the PolicyIdConflict Event', ...WAIT },
    );
    assert.equal(event.type, 'Warning');

    await client.delete(NetworkIntents, name, other.metadata!.namespace);
    await gone(client, other);
    assert.deepEqual(a1.policies.get(key), policy(owner), "the newer intent's deletion leaves the policy");
    assert.equal(a1.requests.filter((r) => r.startsWith('DELETE')).length, 0);
  });

  test('deleting the owner hands the policy to the other intent, whose body is PUT', async (t) => {
    const { client, a1, name, key, owner, other, policy } = await twoClaimants(t);
    for (const ni of [owner, other]) {
      await waitFor(
        async () =>
          (await client.get(NetworkIntents, name, ni.metadata!.namespace)).status?.phase === 'Validated',
        { description: `NetworkIntent ${ni.metadata!.namespace}/${name} reconciled`, ...WAIT },
      );
    }
    await waitFor(() => a1.policies.has(key), { description: 'the policy PUT', ...WAIT });

    await client.delete(NetworkIntents, name, owner.metadata!.namespace);
    await gone(client, owner);
    await waitFor(
      () =>
        (a1.policies.get(key) as { namespace?: string } | undefined)?.namespace === other.metadata!.namespace,
      { description: "the other intent's policy PUT", ...WAIT },
    );
    assert.deepEqual(a1.policies.get(key), policy(other));
    await waitFor(
      async () => {
        const current = await client.get(NetworkIntents, name, other.metadata!.namespace);
        return !findCondition(current.status?.conditions, 'A1PolicySynced');
      },
      { description: 'the conflict condition cleared', ...WAIT },
    );

    await client.delete(NetworkIntents, name, other.metadata!.namespace);
    await gone(client, other);
    assert.equal(a1.policies.size, 0, 'the last intent of the name deletes the policy');
  });
});
