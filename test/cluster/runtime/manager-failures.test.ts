import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig } from '../../support/cluster.js';

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
  const src = (path: string) => JSON.stringify(new URL(`../../../src/runtime/${path}`, import.meta.url).href);
  // The manager as a command runs it: stopOnSignals() makes it the process's owner.
  const program = `
    const { KubeClient } = await import(${src('client/client.ts')});
    const { Manager } = await import(${src('manager.ts')});
    const mgr = new Manager({ client: await KubeClient.load(${JSON.stringify(testKubeconfig())}), name: 'doomed' });
    mgr.add({ name: 'exporter', start: async () => { throw new Error('upstream refused the connection'); } });
    mgr.stopOnSignals();
    await mgr.start();
    await new Promise(() => {});
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 60_000).unref());
  const code = await Promise.race([exit, timeout]);
  assert.notEqual(code, 'hung', `the process kept running after its runnable failed:\n${stderr}`);
  assert.equal(code, 1, `exit status, stderr:\n${stderr}`);
  assert.match(stderr, /runnable exporter failed: upstream refused the connection/);
});
