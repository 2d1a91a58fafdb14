import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  loadExecutorState,
  STATE_FILE,
  saveExecutorState,
} from '../../../src/hourglass/executor/executor-state.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
const run = promisify(execFile);

/** `tutti executor` with a config; resolves with its exit code and stderr. */
async function executor(
  config: string | undefined,
  ...flags: string[]
): Promise<{ code: number; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hg-exec-cli-'));
  try {
    const args = [TUTTI, 'executor', '--data-dir', join(dir, 'data'), '--health-port', '0', ...flags];
    if (config !== undefined) {
      await writeFile(join(dir, 'config.yaml'), config);
      args.push('--config', join(dir, 'config.yaml'));
    }
    // No cluster is needed: each of these fails on its input before it reaches one.
    await run(process.execPath, args, {
      env: { ...process.env, KUBECONFIG: join(dir, 'none') },
      timeout: 60_000,
    });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('tutti executor refuses the docker mode, mixed modes and bad configs, naming the fault', async () => {
  const docker = await executor(
    'avsPerformers:\n  - avsAddress: "0xa"\n    image: {repository: perf, tag: v1}\n    deploymentMode: docker\n',
  );
  assert.notEqual(docker.code, 0);
  assert.match(docker.stderr, /deploymentMode docker is not supported.*set deploymentMode: kubernetes/);

  const mixed = await executor(
    [
      'avsPerformers:',
      '  - {avsAddress: "0xa", image: perf:v1, deploymentMode: kubernetes}',
      '  - {avsAddress: "0xb", image: perf:v1, deploymentMode: docker}',
    ].join('\n'),
  );
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.stderr, /avsPerformers mix deployment modes \(\[0\] kubernetes, \[1\] docker\)/);

  const duration = await executor(
    'kubernetes: {connectionTimeout: soon}\navsPerformers:\n  - {avsAddress: "0xa", image: perf:v1}\n',
  );
  assert.match(duration.stderr, /avsPerformers\[0\]\.kubernetes: connectionTimeout "soon" is not a duration/);

  const noImage = await executor('avsPerformers:\n  - {avsAddress: "0xa"}\n');
  assert.match(noImage.stderr, /avsPerformers\[0\]\.image is required/);

  const missing = await executor(undefined);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--config is required/);

  const endpoint = await executor('avsPerformers: []\n', '--performer-endpoint', 'nowhere');
  assert.match(endpoint.stderr, /--performer-endpoint: "nowhere" is not host:port/);
});

test('executor state: written atomically, read back, a damaged file named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hg-state-'));
  try {
    assert.deepEqual(await loadExecutorState(dir), { generation: 0, avs: {} }, 'a first start');
    const state = {
      generation: 3,
      avs: {
        '0xa': { performerId: '0xa-1', image: 'perf', version: 'v3', generation: 3, deployedAt: 'now' },
      },
    };
    await saveExecutorState(dir, state);
    assert.deepEqual(await loadExecutorState(dir), state);
    assert.deepEqual(await readdir(dir), [STATE_FILE], 'no temporary file left behind');
    await writeFile(join(dir, STATE_FILE), '{"generation": 3, "av');
    await assert.rejects(loadExecutorState(dir), new RegExp(`executor state .*${STATE_FILE} is not JSON`));
    await writeFile(join(dir, STATE_FILE), '{"avs": {}}');
    await assert.rejects(loadExecutorState(dir), /lacks generation or avs/);
    assert.match(await readFile(join(dir, STATE_FILE), 'utf8'), /avs/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
