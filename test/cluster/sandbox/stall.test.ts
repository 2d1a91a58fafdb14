import assert from 'node:assert/strict';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ExecStalledError } from '../../../src/runtime/client/exec.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { KubernetesSandbox, SandboxStalledError, SandboxStateError } from '../../../src/sandbox/index.js';
import { testClient, testKubeconfig } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';
import { asApp, sandboxNamespace, workdir } from './support.js';

const IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';

describe('a sandbox whose connection to the API server stalls mid-command', () => {
  test('the command ends with SandboxStalledError (a SandboxStateError, cause ExecStalledError), and the sandbox stays usable', async (t) => {
    const client = await testClient(t);
    const { ns } = await sandboxNamespace(t, client);
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    const through = await KubeClient.load(kubeconfig, { fieldManager: 'tutti-test' });
    t.after(() => through.close());
    const dir = await workdir();
    const release = () => writeFile(join(dir, 'release'), '');
    t.after(release);
    // A short keepalive, so that the stall shows within seconds rather than the default 30 s.
    const sandbox = new KubernetesSandbox(IMAGE, ns, {
      client: asApp(through, ns),
      workdir: dir,
      keepaliveIntervalMs: 1000,
      keepaliveTimeoutMs: 4000,
    });
    await sandbox.init();

    // The command (run on this machine by the simulated kubelet) waits for `release` and then
    // marks its end in `ended`: absent when the call failed, it proves the stall ended the call.
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const outcome = sandbox.runCommand(
      `echo started; i=0; while [ ! -f "${dir}/release" ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done; touch "${dir}/ended"`,
      {
        onOutput: (_stream, text) => {
          if (text.includes('started')) started();
        },
      },
    );
    outcome.catch(() => {});
    await Promise.race([running, outcome.then(() => assert.fail('the command ended before it started'))]);
    proxy.freeze();
    // The sandbox's keepalive deadline is what ends the call.
    await assert.rejects(outcome, (err: unknown) => {
      assert.ok(err instanceof SandboxStalledError, `not a SandboxStalledError: ${err}`);
      assert.ok(err instanceof SandboxStateError, 'still a SandboxStateError for existing checks');
      assert.equal(err.name, 'SandboxStalledError');
      assert.equal(err.silentMs, 4000);
      assert.ok(err.cause instanceof ExecStalledError, `cause: ${err.cause}`);
      assert.match(err.message, new RegExp(`^sandbox ${sandbox.jobName}: `));
      assert.match(err.message, /stopped answering for 4 s/);
      assert.match(err.message, /outcome is unknown/);
      return true;
    });
    await assert.rejects(access(join(dir, 'ended')), 'the command was still running');

    // A stalled connection is not a lost pod: once the network is back, the sandbox runs commands.
    proxy.thaw();
    await release();
    const after = await sandbox.runCommand('echo still here');
    assert.equal(after.exitCode, 0);
    assert.equal(after.stdout, 'still here\n');
    // The stalled command went on running: released, it ends (the sandbox had not stopped it).
    await waitFor(
      () =>
        access(join(dir, 'ended')).then(
          () => true,
          () => false,
        ),
      {
        description: 'the released command to end',
        timeoutMs: 10_000,
      },
    );
    await sandbox.teardown();
  });
});
