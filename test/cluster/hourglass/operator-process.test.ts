import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { Leases, Namespaces, Nodes, Pods, Services } from '../../../src/runtime/client/kinds.js';
import { LEASE_DURATION_MS, RETRY_PERIOD_MS } from '../../../src/runtime/leader-election.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testNamespace } from '../../support/cluster.js';
import { isReady, metric, performer, REVISION, setup, startOperator } from './operator-support.js';

/** Start-up, plus a lease that may have to run out, plus scheduling slack on a loaded machine. */
const CONVERGE_MS = LEASE_DURATION_MS + 2 * RETRY_PERIOD_MS + 45_000;
const PERFORMER_RECONCILES =
  /^controller_runtime_reconcile_total\{controller="performer",result="success"\} (\d+)/m;
const PERFORMER_ERRORS = /^controller_runtime_reconcile_errors_total\{controller="performer"\} (\d+)/m;

test('two operators: one leads and reconciles, the other waits', async (t) => {
  const { client, ns } = await setup(t, 'hg-le');
  const a = await startOperator(t, ns);
  const b = await startOperator(t, ns);
  await client.create(performer(ns, 'solo'));
  await waitFor(async () => (await client.get(Performers, 'solo', ns)).status?.ready, {
    description: 'the Performer to be ready',
    timeoutMs: CONVERGE_MS,
  });

  const holder = (await client.get(Leases, 'tutti-operator', ns)).spec?.holderIdentity ?? '';
  const [leader, follower] = holder.includes(`_${a.child.pid}_`) ? [a, b] : [b, a];
  assert.match(holder, new RegExp(`_${leader.child.pid}_`), `the Lease names one of them: ${holder}`);
  const master = /^leader_election_master_status\{name="tutti-operator"\} (\d)/m;
  assert.equal(await metric(leader.healthPort, master), 1);
  assert.equal(await metric(follower.healthPort, master), 0);
  assert.ok((await metric(leader.healthPort, PERFORMER_RECONCILES)) > 0, 'the leader reconciled');
  assert.equal(await metric(follower.healthPort, PERFORMER_RECONCILES), 0, 'the follower did not');
});

test('an operator killed mid-upgrade is replaced and the upgrade converges', async (t) => {
  const { client, ns } = await setup(t, 'hg-restart');
  const first = await startOperator(t, ns);
  await client.create(performer(ns, 'api'));
  await waitFor(async () => (await client.get(Performers, 'api', ns)).status?.ready, {
    description: 'the first Pod to be ready',
    timeoutMs: CONVERGE_MS,
  });
  const oldRevision = (await client.get(Pods, 'performer-api', ns)).metadata?.labels?.[REVISION];

  // The new revision asks for a node label no node has yet, so the upgrade stays in progress
  // until the test adds it: the operator is killed with the new Pod Pending and the old serving.
  const label = `hourglass-test.tutti.dev/${ns}`;
  await client.patch(Performers, 'api', ns, {
    spec: { image: 'ghcr.io/acme/perf2', scheduling: { nodeSelector: { [label]: 'yes' } } },
  });
  const upgrading = await waitFor(
    async () => {
      const p = await client.get(Performers, 'api', ns);
      return p.status?.phase === 'Upgrading' && p.status.observedGeneration === 2 && p;
    },
    { description: 'the Performer to be Upgrading', timeoutMs: CONVERGE_MS },
  );
  assert.equal(upgrading.status?.ready, true, 'the old Pod still serves');
  first.child.kill('SIGKILL');
  await first.exited;
  assert.equal(
    (await client.get(Services, 'performer-api', ns)).spec?.selector?.[REVISION],
    oldRevision,
    'the Service still selects the old revision',
  );

  await startOperator(t, ns);
  const node = ((await client.list(Nodes)).items as Node[]).find((n) => !n.spec?.taints?.length);
  const nodeName = node!.metadata!.name!;
  await client.patch(Nodes, nodeName, undefined, { metadata: { labels: { [label]: 'yes' } } });
  t.after(() => client.patch(Nodes, nodeName, undefined, { metadata: { labels: { [label]: null } } }));

  let seen = '';
  const done = await waitFor(
    async () => {
      const p = await client.get(Performers, 'api', ns);
      const pods = (await client.list(Pods, { namespace: ns })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      seen = JSON.stringify({
        status: p.status,
        pods: pods.map((p) => [p.metadata?.name, p.status?.phase, p.spec?.nodeName, isReady(p)]),
      });
      return p.status?.phase === 'Running' && pods.length === 1 && isReady(pods[0]!) && p;
    },
    { description: 'the upgrade to converge under the new operator', timeoutMs: CONVERGE_MS },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${seen}`);
  });
  const pod = await client.get(Pods, done.status!.podName!, ns);
  assert.notEqual(pod.metadata?.labels?.[REVISION], oldRevision);
  assert.equal(pod.spec?.nodeName, nodeName);
  assert.equal(
    (await client.get(Services, 'performer-api', ns)).spec?.selector?.[REVISION],
    pod.metadata?.labels?.[REVISION],
  );
});

test('a namespace deleted with its Performers goes without a failed reconcile', async (t) => {
  const { client, ns } = await setup(t, 'hg-nsdel');
  // The lease lives elsewhere: the namespace's deletion would take it, and the leadership with it.
  const leaseNs = await testNamespace(t, client, 'hg-lease');
  const operator = await startOperator(t, ns, [], leaseNs);
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const name of names) await client.create(performer(ns, name));
  await waitFor(
    async () => {
      const ready = (await client.list(Performers, { namespace: ns })).items.filter((p) => p.status?.ready);
      return ready.length === names.length;
    },
    { description: 'every Performer to be ready', timeoutMs: CONVERGE_MS },
  );
  const errorsBefore = await metric(operator.healthPort, PERFORMER_ERRORS);

  // The namespace's Pods and Services go before its Performers are marked for deletion; a Pod
  // made again in their place is refused while the namespace terminates.
  await client.delete(Namespaces, ns);
  await waitFor(async () => !(await client.find(Namespaces, ns)), {
    description: 'the namespace to be gone, its Performers finalized',
    timeoutMs: CONVERGE_MS,
  });
  assert.equal(await metric(operator.healthPort, PERFORMER_ERRORS), errorsBefore, 'no reconcile failed');
});
