import assert from 'node:assert/strict';
import { access, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ExecStalledError, execInPod } from '../../../src/runtime/client/exec.js';
import { shellPod, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';

async function shellNamespace(t: TestContext): Promise<{ client: KubeClient; ns: string }> {
  const client = await testClient(t);
  const ns = await testNamespace(t, client);
  await shellPod(client, ns);
  return { client, ns };
}

describe('execInPod onOutput', () => {
  test('delivers output while the command is still running, in order', async (t) => {
    const { client, ns } = await shellNamespace(t);
    // The local plane's exec runs on this machine: the command waits for a file the test writes
    // only once the first line has reached it, so the command cannot end before that delivery.
    const gate = join(await mkdtemp(join(tmpdir(), 'exec-gate-')), 'go');
    const script =
      'echo first; echo warn >&2; i=0; ' +
      'while [ ! -f "$1" ]; do i=$((i+1)); [ $i -gt 1200 ] && { echo gate-never-opened; exit 9; }; sleep 0.05; done; ' +
      'echo second';
    const chunks: { stream: string; text: string }[] = [];
    let opened = false;
    const result = await execInPod(client, ns, 'shell', ['sh', '-c', script, 'sh', gate], {
      onOutput: (stream, chunk) => {
        chunks.push({ stream, text: chunk.toString('utf8') });
        if (!opened && chunks.some((c) => c.text.includes('first'))) {
          opened = true;
          void writeFile(gate, '');
        }
      },
    });
    assert.equal(result.exitCode, 0, `the command ended without seeing the gate: ${result.stdout}`);
    const stdout = chunks.filter((c) => c.stream === 'stdout').map((c) => c.text);
    assert.equal(stdout.join(''), 'first\nsecond\n');
    assert.equal(stdout.join(''), result.stdout, 'the chunks add up to the result');
    assert.equal(
      chunks
        .filter((c) => c.stream === 'stderr')
        .map((c) => c.text)
        .join(''),
      'warn\n',
    );
    assert.ok(
      chunks.findIndex((c) => c.text.includes('first')) < chunks.findIndex((c) => c.text.includes('second')),
    );
  });

  test('delivers only the bytes kept under maxOutputBytes', async (t) => {
    const { client, ns } = await shellNamespace(t);
    let seen = '';
    const result = await execInPod(client, ns, 'shell', ['sh', '-c', 'echo 0123456789; echo abcdef'], {
      maxOutputBytes: 12,
      onOutput: (_stream, chunk) => {
        seen += chunk.toString('utf8');
      },
    });
    assert.equal(result.truncated, true);
    assert.equal(result.stdout, '0123456789\na');
    assert.equal(seen, result.stdout);
  });

  test('a throwing listener fails the exec with an error naming it', async (t) => {
    const { client, ns } = await shellNamespace(t);
    await assert.rejects(
      execInPod(client, ns, 'shell', ['sh', '-c', 'echo x'], {
        onOutput: () => {
          throw new Error('listener broke');
        },
      }),
      /onOutput failed: listener broke/,
    );
  });
});

describe('execInPod keepalive', () => {
  test('a connection that stops answering ends the exec with ExecStalledError while the command still runs', async (t) => {
    const { ns } = await shellNamespace(t);
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    const through = await KubeClient.load(kubeconfig, { fieldManager: 'tutti-test' });
    t.after(() => through.close());
    // The command marks its end in a file on this machine (the local plane runs it here): absent
    // when the exec has failed, it proves the failure came from the stall, not the command's end.
    const ended = join(await mkdtemp(join(tmpdir(), 'exec-stall-')), 'ended');
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const ran = execInPod(
      through,
      ns,
      'shell',
      ['sh', '-c', 'echo started; sleep 300; touch "$1"', 'sh', ended],
      {
        keepaliveIntervalMs: 100,
        keepaliveTimeoutMs: 1000,
        onOutput: (_stream, chunk) => {
          if (chunk.toString('utf8').includes('started')) started();
        },
      },
    );
    await Promise.race([running, ran.then(() => assert.fail('the exec ended before the command started'))]);
    proxy.freeze();
    await assert.rejects(ran, (err: unknown) => {
      assert.ok(err instanceof ExecStalledError, `not an ExecStalledError: ${err}`);
      assert.match(err.message, /stopped answering for 1 s/);
      assert.match(err.message, /outcome is unknown/);
      assert.equal(err.silentMs, 1000);
      return true;
    });
    await assert.rejects(access(ended), 'the command was still running');
  });

  test('a quiet command that outlasts the keepalive deadline finishes, the server answering the pings', async (t) => {
    const { client, ns } = await shellNamespace(t);
    const result = await execInPod(client, ns, 'shell', ['sh', '-c', 'sleep 2; echo done'], {
      keepaliveIntervalMs: 100,
      keepaliveTimeoutMs: 500,
    });
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'done\n');
  });
});
