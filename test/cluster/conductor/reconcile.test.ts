import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { reconcileNetworkIntent } from '../../../src/conductor/reconcile.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { createDeployment, dropIntent, handoffDir, intent, readState, startLoop } from './support.js';

/** Runs the reconciler as a controller would: again after each requeue, until done or the deadline. */
/**
 * A scaling NetworkIntent for `target`, 2 replicas; retried while its CRD, just installed, is not
 * served yet.
 */
async function createIntent(client: KubeClient, ns: string, name: string, target: string, source: string) {
  await waitFor(
    () =>
      client.create({
        apiVersion: 'intent.nephoran.com/v1alpha1',
        kind: 'NetworkIntent',
        metadata: { name, namespace: ns },
        spec: { intentType: 'scaling', target, namespace: ns, replicas: 2, source },
      }),
    { description: 'the NetworkIntent created', timeoutMs: 10_000 },
  );
}

async function reconcileUntil(client: KubeClient, ns: string, name: string, phase: string) {
  return waitFor(
    async () => {
      await reconcileNetworkIntent(client, ns, name);
      const ni = await client.get(NetworkIntents, name, ns);
      return ni.status?.phase === phase ? ni : undefined;
    },
    { description: `NetworkIntent ${ns}/${name} to be ${phase}`, timeoutMs: 60_000, intervalMs: 250 },
  );
}

describe('NetworkIntent reconciler', () => {
  test('a dropped file scales the Deployment and the intent ends Deployed', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'scale');
    await createDeployment(client, ns, 'web', 1);
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs);
    await dropIntent(dirs.dir, 'intent-scale-web.json', intent(ns, 'web', { replicas: 4 }));
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-scale-web.json'], {
      description: 'the intent file processed',
      timeoutMs: 30_000,
    });
    const name = record.cr_name!.split('/')[1]!;

    const ni = await reconcileUntil(client, ns, name, 'Deployed');
    const deployment = await client.get(Deployments, 'web', ns);
    assert.equal(deployment.spec?.replicas, 4);
    assert.equal(ni.status?.readyReplicas, 4);
    assert.equal(ni.status?.observedReplicas, 4);
    assert.equal(ni.status?.observedGeneration, ni.metadata?.generation);
    assert.equal(ni.status?.message, `Deployment ${ns}/web runs 4 ready replicas`);
    const ready = ni.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.equal(ready?.reason, 'Scaled');
  });

  test('replicas are clamped to the constraints', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'clamp');
    await createDeployment(client, ns, 'api', 1);
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs);
    await dropIntent(
      dirs.dir,
      'intent-api.json',
      intent(ns, 'api', { replicas: 9, constraints: { max_replicas: 3 } }),
    );
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-api.json'], {
      description: 'the intent file processed',
      timeoutMs: 30_000,
    });
    const ni = await reconcileUntil(client, ns, record.cr_name!.split('/')[1]!, 'Deployed');
    assert.deepEqual(ni.spec.scalingParameters, { maxReplicas: 3 });
    assert.equal((await client.get(Deployments, 'api', ns)).spec?.replicas, 3);
    assert.equal(ni.status?.message, `Deployment ${ns}/api runs 3 ready replicas (clamped from 9)`);
  });

  test('a missing target is Failed with a clear message, and recovers when it appears', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'missing');
    await createIntent(client, ns, 'later', 'later', 'user');
    const result = await reconcileNetworkIntent(client, ns, 'later');
    assert.ok('requeueAfterMs' in result, 'a missing target is looked at again');
    const failed = await client.get(NetworkIntents, 'later', ns);
    assert.equal(failed.status?.phase, 'Failed');
    assert.equal(failed.status?.message, `target Deployment ${ns}/later not found`);

    await createDeployment(client, ns, 'later', 1);
    await reconcileUntil(client, ns, 'later', 'Deployed');
    assert.equal((await client.get(Deployments, 'later', ns)).spec?.replicas, 2);
  });

  test('an invalid spec is reported in status', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'invalid');
    await createIntent(client, ns, 'bad', '', 'conductor-loop');
    assert.deepEqual(await reconcileNetworkIntent(client, ns, 'bad'), { done: true });
    const ni = await client.get(NetworkIntents, 'bad', ns);
    assert.equal(ni.status?.phase, 'Failed');
    assert.equal(
      ni.status?.message,
      'invalid spec: spec.target is empty; spec.source "conductor-loop" must be one of user, planner, test',
    );
    assert.equal(ni.status?.conditions?.find((c) => c.type === 'Validated')?.reason, 'InvalidSpec');
  });

  test('Ready stays truthful when a Deployed intent becomes invalid or stops being a scaling intent', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'stale');
    await createDeployment(client, ns, 'web', 1);
    await createIntent(client, ns, 'web', 'web', 'user');
    const deployed = await reconcileUntil(client, ns, 'web', 'Deployed');
    assert.equal(deployed.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');

    await client.patch(NetworkIntents, 'web', ns, { spec: { source: 'someone' } });
    const invalid = await reconcileUntil(client, ns, 'web', 'Failed');
    const ready = invalid.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False', 'an invalid intent is not Ready');
    assert.equal(ready?.reason, 'InvalidSpec');
    assert.equal(ready?.observedGeneration, invalid.metadata?.generation);
    assert.equal(invalid.status?.readyReplicas, undefined, 'no replica counts from an earlier generation');

    await client.patch(NetworkIntents, 'web', ns, { spec: { source: 'user', intentType: 'configuration' } });
    const validated = await reconcileUntil(client, ns, 'web', 'Validated');
    assert.deepEqual(
      validated.status?.conditions?.map((c) => `${c.type}=${c.status}`),
      ['Validated=True'],
      'no Ready left from the scaling rollout',
    );
  });
});
