import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { execInPod } from '../../../src/runtime/client/exec.js';
import { shellPod, testClient, testNamespace } from '../../support/cluster.js';

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
