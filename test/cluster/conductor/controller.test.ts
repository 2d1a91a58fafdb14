import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import type { Event } from 'kubernetes-types/events/v1.js';
import { type NetworkIntent, NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import type { OptionValues } from '../../../src/cli/command.js';
import { A1_POLICY_FINALIZER } from '../../../src/conductor/controller.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { conductorOperatorModule } from '../../../src/conductor/operator.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Deployments, Events } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { a1Mediator } from '../../support/a1-mediator.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { createDeployment } from './support.js';

const WAIT = { timeoutMs: 60_000, intervalMs: 200 };

/**
 * `tutti operator --module conductor` in this process, its NetworkIntents limited to the test's
 * namespace so that tests sharing the plane do not reconcile each other's intents.
 */
async function startConductor(t: TestContext, ns: string, options: OptionValues = {}): Promise<void> {
  const client = await KubeClient.load(testKubeconfig(), { fieldManager: 'tutti-operator' });
  const mgr = new Manager({ client, name: `conductor-${ns}` });
  await conductorOperatorModule.setup({
    mgr,
    systemNamespace: ns,
    options: { 'intent-namespace': ns, ...options },
  });
  await mgr.start();
  t.after(async () => {
    await mgr.stop();
    client.close();
  });
}

async function setUp(t: TestContext, prefix: string): Promise<{ client: KubeClient; ns: string }> {
  const client = await testClient(t);
  await installCrds(client, conductorCrds());
  return { client, ns: await testNamespace(t, client, prefix) };
}

async function createIntent(client: KubeClient, ns: string, name: string, target: string, replicas: number) {
  // The CRD may still be settling right after installCrds: retry until the API serves it.
  return waitFor(
    () =>
      client.create<NetworkIntent>({
        apiVersion: 'intent.nephoran.com/v1alpha1',
        kind: 'NetworkIntent',
        metadata: { name, namespace: ns },
        spec: { intentType: 'scaling', target, namespace: ns, replicas, source: 'user' },
      }),
    { description: `NetworkIntent ${ns}/${name} created`, timeoutMs: 10_000 },
  );
}

function phaseOf(client: KubeClient, ns: string, name: string, phase: string) {
  return waitFor(
    async () => {
      const ni = await client.get(NetworkIntents, name, ns);
      return ni.status?.phase === phase ? ni : undefined;
    },
    { description: `NetworkIntent ${ns}/${name} to be ${phase}`, ...WAIT },
  );
}

function gone(client: KubeClient, ns: string, name: string) {
  return waitFor(async () => !(await client.find(NetworkIntents, name, ns)), {
    description: `NetworkIntent ${ns}/${name} to be deleted`,
    ...WAIT,
  });
}

/**
 * A gateway in front of `upstream` that, while `timingOut`, passes each request on but answers
 * 504 itself: the mediator applied the PUT, the controller was told it failed.
 */
async function timingOutGateway(
  t: TestContext,
  upstream: string,
): Promise<{ url: string; timingOut: boolean }> {
  const gateway = { url: '', timingOut: false };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      // The mediator may be stopped (the test's cleanup) while the controller still calls: a
      // gateway answers 502 then, as a real one would, rather than failing the test run.
      let answer: { status: number; text: string };
      try {
        const res = await fetch(`${upstream}${req.url}`, {
          method: req.method,
          headers: body ? { 'content-type': 'application/json' } : {},
          body: body || undefined,
        });
        answer = { status: res.status, text: await res.text() };
      } catch (err) {
        answer = { status: 502, text: `upstream unreachable: ${(err as Error).message}` };
      }
      if (gateway.timingOut) return void res.writeHead(504).end('upstream request timeout');
      res.writeHead(answer.status).end(answer.text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return gateway;
}

describe('NetworkIntent controller (conductor operator module)', () => {
  test('an intent scales its Deployment and ends Deployed', async (t) => {
    const { client, ns } = await setUp(t, 'nic-scale');
    await createDeployment(client, ns, 'web', 1);
    await startConductor(t, ns);
    await createIntent(client, ns, 'web-up', 'web', 3);

    const ni = await phaseOf(client, ns, 'web-up', 'Deployed');
    assert.equal((await client.get(Deployments, 'web', ns)).spec?.replicas, 3);
    assert.equal(ni.status?.readyReplicas, 3);
    assert.equal(ni.status?.message, `Deployment ${ns}/web runs 3 ready replicas`);
    assert.equal(ni.metadata?.finalizers, undefined, 'no A1 endpoint: no finalizer');
  });

  test('a missing target is Failed with a clear message, then recovers when the Deployment appears', async (t) => {
    const { client, ns } = await setUp(t, 'nic-missing');
    await startConductor(t, ns);
    await createIntent(client, ns, 'later', 'later', 2);

    const failed = await phaseOf(client, ns, 'later', 'Failed');
    assert.equal(failed.status?.message, `target Deployment ${ns}/later not found`);
    assert.equal(failed.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'TargetNotFound');

    await createDeployment(client, ns, 'later', 1);
    await phaseOf(client, ns, 'later', 'Deployed');
    assert.equal((await client.get(Deployments, 'later', ns)).spec?.replicas, 2);
  });

  test('the A1 policy is PUT on create, updated with the spec and deleted with the intent', async (t) => {
    const { client, ns } = await setUp(t, 'nic-a1');
    const a1 = await a1Mediator(t);
    await createDeployment(client, ns, 'ran', 1);
    await startConductor(t, ns, { 'a1-endpoint': a1.url });
    await createIntent(client, ns, 'ran-up', 'ran', 2);
    const path = '/A1-P/v2/policytypes/100/policies/policy-ran-up';
    const key = '100/policy-ran-up';

    const policy = (replicas: number) => ({
      intentType: 'scaling',
      target: 'ran',
      namespace: ns,
      replicas,
      source: 'user',
    });
    await waitFor(() => a1.policies.has(key), { description: 'the policy PUT', ...WAIT });
    assert.deepEqual(a1.policies.get(key), policy(2));
    const created = await client.get(NetworkIntents, 'ran-up', ns);
    assert.deepEqual(created.metadata?.finalizers, [A1_POLICY_FINALIZER]);

    await client.patch(NetworkIntents, 'ran-up', ns, { spec: { replicas: 3 } });
    await waitFor(() => (a1.policies.get(key) as { replicas?: number } | undefined)?.replicas === 3, {
      description: 'the policy updated to 3 replicas',
      ...WAIT,
    });
    assert.deepEqual(a1.policies.get(key), policy(3));
    await phaseOf(client, ns, 'ran-up', 'Deployed');

    await client.delete(NetworkIntents, 'ran-up', ns);
    await gone(client, ns, 'ran-up');
    assert.equal(a1.policies.size, 0);
    assert.deepEqual(
      a1.requests.filter((r) => r.endsWith(path)),
      [`PUT ${path}`, `PUT ${path}`, `DELETE ${path}`],
      'one PUT per spec, however often the intent was reconciled',
    );
  });

  test('a PUT that failed but may have landed is not taken as unchanged when the spec goes back', async (t) => {
    const { client, ns } = await setUp(t, 'nic-a1back');
    const a1 = await a1Mediator(t);
    const gateway = await timingOutGateway(t, a1.url);
    await createDeployment(client, ns, 'du', 1);
    await startConductor(t, ns, { 'a1-endpoint': gateway.url });
    await createIntent(client, ns, 'du-up', 'du', 2);
    const replicasAtRic = () =>
      (a1.policies.get('100/policy-du-up') as { replicas?: number } | undefined)?.replicas;
    await waitFor(() => replicasAtRic() === 2, { description: 'the policy PUT with 2 replicas', ...WAIT });

    gateway.timingOut = true;
    await client.patch(NetworkIntents, 'du-up', ns, { spec: { replicas: 3 } });
    await waitFor(() => replicasAtRic() === 3, { description: 'the mediator to hold 3 replicas', ...WAIT });
    // The user takes the change back while the gateway still times out: the mediator holds the
    // body the controller saw fail, so the old body must be sent again, not taken as unchanged.
    await client.patch(NetworkIntents, 'du-up', ns, { spec: { replicas: 2 } });
    await waitFor(() => replicasAtRic() === 2, {
      description: 'the policy back at 2 replicas',
      ...WAIT,
      timeoutMs: 20_000,
    });
    gateway.timingOut = false;
  });

  test('a mediator failing every delete: three tries, a Warning Event, and the finalizer let go', async (t) => {
    const { client, ns } = await setUp(t, 'nic-a1fail');
    const a1 = await a1Mediator(t);
    await createDeployment(client, ns, 'cu', 1);
    await startConductor(t, ns, { 'a1-endpoint': a1.url, 'a1-path-style': 'standard' });
    await createIntent(client, ns, 'cu-up', 'cu', 1);
    const path = '/v2/policies/policy-cu-up';
    await waitFor(() => a1.policies.has('100/policy-cu-up'), { description: 'the policy PUT', ...WAIT });
    await waitFor(async () => (await client.get(NetworkIntents, 'cu-up', ns)).metadata?.finalizers?.length, {
      description: 'the finalizer added',
      ...WAIT,
    });

    a1.failWith = 500;
    await client.delete(NetworkIntents, 'cu-up', ns);
    await gone(client, ns, 'cu-up');
    assert.deepEqual(
      a1.requests.filter((r) => r.startsWith('DELETE')),
      [`DELETE ${path}`, `DELETE ${path}`, `DELETE ${path}`],
    );
    const event = await waitFor(
      async () =>
        (await client.list<Event>(Events, { namespace: ns })).items.find(
          (e) => e.reason === 'PolicyDeleteFailed' && e.regarding?.name === 'cu-up',
        ),
      { description: 'the PolicyDeleteFailed Event', ...WAIT },
    );
    assert.equal(event.type, 'Warning');
    assert.match(
      event.note ?? '',
      /^A1 policy policy-cu-up not deleted after 3 tries: A1 DELETE .* HTTP 500/,
    );
    assert.match(event.note ?? '', /finalizer removed anyway$/);
  });
});
