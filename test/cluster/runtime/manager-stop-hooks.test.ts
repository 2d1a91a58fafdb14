/**
 * `mgr.onStop`: what a setup opened beside a manager is released however the manager ends — a
 * stop, a failure, a start called off or failed, or no start at all — once, after the manager's
 * own shutdown, and a hook that throws keeps no other from running.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import { hungCluster } from '../../support/hung-cluster.js';

/** A manager whose log lines the test reads, as a user reads the operator's. */
function logged(t: TestContext, client: KubeClient, name: string, healthPort?: number) {
  const lines: string[] = [];
  const mgr = new Manager({
    client,
    name,
    healthPort,
    healthHost: '127.0.0.1',
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
  });
  t.after(() => mgr.stop());
  return { mgr, lines: () => lines.join('') };
}

/** Whether the manager's health server still answers. */
const healthAnswers = (port: number | undefined) =>
  fetch(`http://127.0.0.1:${port}/healthz`).then(
    () => true,
    () => false,
  );

test('stop() runs the hooks once, after the manager itself stopped; a hook that throws keeps no other from running', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'hooks');
  const { mgr, lines } = logged(t, client, 'stop-hooks', 0);
  mgr.informer(ConfigMaps, { namespace: ns });
  const ran: string[] = [];
  let healthAtHook: boolean | undefined;
  mgr.onStop('store', async () => {
    healthAtHook = await healthAnswers(mgr.healthPort);
    ran.push('store');
  });
  mgr.onStop('broken', () => {
    throw new Error('already closed');
  });
  mgr.onStop('rejecting', () => Promise.reject(new Error('connection reset')));
  mgr.onStop('server', () => void ran.push('server'));
  await mgr.start();
  assert.deepEqual(ran, [], 'nothing released while it runs');
  assert.equal(await healthAnswers(mgr.healthPort), true);

  await Promise.all([mgr.stop(), mgr.stop()]);
  await mgr.stop();
  assert.deepEqual(ran.sort(), ['server', 'store'], 'each hook once, the throwing ones beside them');
  assert.equal(healthAtHook, false, 'the hooks ran after the health server closed');
  assert.match(lines(), /"hook":"broken","err":"already closed","msg":"stop hook broken failed"/);
  assert.match(lines(), /"hook":"rejecting","err":"connection reset","msg":"stop hook rejecting failed"/);
});

test('a runnable that fails stops the manager, and its hooks run', async (t) => {
  const client = await testClient(t);
  const { mgr } = logged(t, client, 'failing-hooks');
  let released = false;
  mgr.onStop('server', () => {
    released = true;
  });
  mgr.add({
    name: 'exporter',
    needLeaderElection: false,
    start: () => Promise.reject(new Error('upstream refused the connection')),
  });
  await mgr.start();
  await waitFor(() => released, {
    description: 'the hook to run once the manager stopped',
    timeoutMs: 10_000,
  });
});

test('a start called off before the caches sync runs the hooks before it rejects', async (t) => {
  // A cluster that never answers: the caches never sync.
  const { kubeconfig } = await hungCluster(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'hooks-test' });
  t.after(() => client.close());
  const { mgr } = logged(t, client, 'called-off-hooks', 0);
  mgr.informer(ConfigMaps);
  let released = false;
  mgr.onStop('server', () => {
    released = true;
  });
  const abort = new AbortController();
  const starting = mgr.start(abort.signal);
  await waitFor(() => mgr.healthPort, { description: 'the health server to listen', timeoutMs: 10_000 });
  assert.equal(released, false);
  const reason = new Error('called off');
  abort.abort(reason);
  await assert.rejects(starting, (err) => err === reason);
  assert.equal(released, true, 'released by the time the start rejected');

  // Called off before it began: nothing started, and the hooks still run.
  const { mgr: late } = logged(t, client, 'called-off-early');
  let lateReleased = false;
  late.onStop('server', () => {
    lateReleased = true;
  });
  const early = new Error('called off early');
  await assert.rejects(late.start(AbortSignal.abort(early)), (err) => err === early);
  assert.equal(lateReleased, true);
});

test('a start that fails (its health port taken) runs the hooks before it rejects', async (t) => {
  const client = await testClient(t);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const { mgr } = logged(t, client, 'failed-start-hooks', (taken.address() as AddressInfo).port);
  let released = false;
  mgr.onStop('server', () => {
    released = true;
  });
  await assert.rejects(mgr.start(), /EADDRINUSE/);
  assert.equal(released, true, 'released by the time the start rejected');
});

test('a manager never started (a setup failed part-way): stop() runs the hooks registered so far, once', async (t) => {
  const client = await testClient(t);
  const { mgr } = logged(t, client, 'never-started-hooks');
  let released = 0;
  mgr.onStop('server', () => {
    released++;
  });
  await mgr.stop();
  await mgr.stop();
  assert.equal(released, 1);
});
