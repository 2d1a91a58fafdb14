import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';

/** Runs `program` (an ES module's body) under tsx, collecting its stderr, until it exits. */
function runProgram(t: TestContext, program: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const out = { stderr: '' };
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  /** The exit code, or 'hung' when the process still runs after `ms`. */
  const exit = (ms: number) =>
    Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms).unref())]);
  return { out, exit };
}

const src = (path: string) => JSON.stringify(new URL(`../../../src/runtime/${path}`, import.meta.url).href);

test('a runnable that fails fails /healthz naming it and stops the manager', async (t) => {
  const mgr = new Manager({
    client: await testClient(t),
    name: 'failing-runnable',
    healthPort: 0,
    healthHost: '127.0.0.1',
    logger: pino({ level: 'silent' }),
  });
  // Finishes its stop only when the test says: /healthz can be read during the graceful stop.
  let finishStop!: () => void;
  const stopFinished = new Promise<void>((resolve) => (finishStop = resolve));
  let toldToStop = false;
  mgr.add({
    name: 'slow-to-stop',
    needLeaderElection: false,
    async start(signal) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      toldToStop = true;
      await stopFinished;
    },
  });
  let fail!: (err: Error) => void;
  mgr.add({
    name: 'exporter',
    start: () => new Promise<void>((_, reject) => (fail = reject)),
  });
  await mgr.start();
  t.after(() => {
    finishStop();
    return mgr.stop();
  });
  const healthz = () => fetch(`http://127.0.0.1:${mgr.healthPort}/healthz`);
  assert.equal((await healthz()).status, 200);

  await waitFor(() => fail, { description: 'the leader-only runnable to start', timeoutMs: 10_000 });
  fail(new Error('upstream refused the connection'));
  await waitFor(() => toldToStop, { description: 'the manager to stop its runnables', timeoutMs: 10_000 });
  const res = await healthz();
  assert.equal(res.status, 500, 'unhealthy once a runnable has failed');
  assert.match(
    await res.text(),
    /\[-\]runnables failed: runnable exporter failed: upstream refused the connection/,
  );

  finishStop();
  await waitFor(
    () =>
      healthz().then(
        () => false,
        () => true,
      ),
    { description: 'the manager to finish stopping (its health server closed)', timeoutMs: 10_000 },
  );
});

test('a process whose manager owns it exits 1 when a runnable fails, naming the runnable', async (t) => {
  // The manager as a command runs it: stopOnSignals() makes it the process's owner.
  const { out, exit } = runProgram(
    t,
    `
    const { KubeClient } = await import(${src('client/client.ts')});
    const { Manager } = await import(${src('manager.ts')});
    const mgr = new Manager({ client: await KubeClient.load(${JSON.stringify(testKubeconfig())}), name: 'doomed' });
    mgr.add({ name: 'exporter', start: async () => { throw new Error('upstream refused the connection'); } });
    mgr.stopOnSignals();
    await mgr.start();
    await new Promise(() => {});
  `,
  );
  const code = await exit(60_000);
  assert.notEqual(code, 'hung', `the process kept running after its runnable failed:\n${out.stderr}`);
  assert.equal(code, 1, `exit status, stderr:\n${out.stderr}`);
  assert.match(out.stderr, /runnable exporter failed: upstream refused the connection/);
});

test('a process whose manager owns it exits 1 as soon as it loses the lease', async (t) => {
  const ns = await testNamespace(t, await testClient(t), 'lease-exit');
  const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
  const { out, exit } = runProgram(
    t,
    `
    const { KubeClient } = await import(${src('client/client.ts')});
    const { Manager } = await import(${src('manager.ts')});
    const mgr = new Manager({
      client: await KubeClient.load(${JSON.stringify(kubeconfig)}),
      name: 'deposed',
      leaderElection: { leaseNamespace: ${JSON.stringify(ns)} },
    });
    mgr.stopOnSignals();
    await mgr.start();
    await new Promise(() => {});
  `,
  );
  await waitFor(() => out.stderr.includes('successfully acquired lease'), {
    description: 'the process to lead',
    timeoutMs: 30_000,
  });
  proxy.cut(); // renewals fail: the lease is lost at the renew deadline
  const code = await exit(60_000);
  assert.notEqual(code, 'hung', `the process kept running without its lease:\n${out.stderr}`);
  assert.equal(code, 1, `exit status, stderr:\n${out.stderr}`);
  assert.match(out.stderr, /leader election lost; exiting/);
});
