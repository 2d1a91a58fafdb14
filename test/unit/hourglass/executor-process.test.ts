import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  loadExecutorState,
  STATE_FILE,
  saveExecutorState,
} from '../../../src/hourglass/executor/executor-state.js';
import { ExecutorClient } from '../../../src/hourglass/executor/task-server.js';
import { endpointResolver } from '../../../src/hourglass/grpc/endpoint-resolver.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
const run = promisify(execFile);

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: here, context: {cluster: c, user: u}}]
current-context: here
`;

const CONFIG = 'avsPerformers:\n  - {avsAddress: "0xa", image: perf:v1}\n';

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
    // No cluster is needed: each of these fails on its input before it reaches one. The
    // kubeconfig loads but names a server nobody answers on.
    await writeFile(join(dir, 'kubeconfig'), KUBECONFIG);
    await run(process.execPath, args, {
      env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig') },
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
  assert.match(duration.stderr, /tutti executor: .*: kubernetes\.connectionTimeout "soon" is not a duration/);
  assert.doesNotMatch(duration.stderr, /avsPerformers\[0\]/, 'the shared block is named, not a performer');

  const misspelt = await executor(
    'grpcport: 9600\navsPerformers:\n  - {avsAddress: "0xa", image: perf:v1}\n',
  );
  assert.equal(misspelt.code, 1);
  assert.match(misspelt.stderr, /unknown key grpcport \(did you mean grpcPort\?\)/);

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

test('tutti executor exits 1 when a port is taken or the kubeconfig is wrong, before deploying', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const task = await executor(CONFIG, '--task-port', String(port));
    assert.equal(task.code, 1, task.stderr);
    assert.match(
      task.stderr,
      new RegExp(`tutti executor: executor task API: cannot listen on 0\\.0\\.0\\.0:${port}: .*EADDRINUSE`),
    );
    assert.doesNotMatch(task.stderr, /deploying performer/);

    const health = await executor(CONFIG, '--task-port', '0', '--health-port', String(port));
    assert.equal(health.code, 1, health.stderr);
    assert.match(health.stderr, /tutti executor: .*EADDRINUSE/);
  } finally {
    taken.close();
  }

  const nofile = await executor(CONFIG, '--task-port', '0', '--kubeconfig', '/nonexistent');
  assert.equal(nofile.code, 1, nofile.stderr);
  assert.match(
    nofile.stderr,
    /tutti executor: cannot load the Kubernetes connection for AVS 0xa: kubeconfig \/nonexistent: cannot read it: ENOENT/,
  );
  const context = await executor(CONFIG, '--task-port', '0', '--context', 'nope');
  assert.equal(context.code, 1, context.stderr);
  assert.match(context.stderr, /tutti executor: cannot load .*: kubeconfig .*: no context named "nope"/);
});

test('out of cluster, an unresolvable performer endpoint names the flag that fixes it', () => {
  const resolve = endpointResolver({ inCluster: false });
  assert.throws(
    () =>
      resolve({
        apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
        kind: 'Performer',
        metadata: { name: 'p', namespace: 'avs-a' },
        spec: { avsAddress: '0xa', image: 'img' },
      }),
    /performer avs-a\/p: running outside the cluster, .* run tutti executor with --performer-endpoint <host:port>/,
  );
  assert.equal(
    endpointResolver({ inCluster: false, override: () => '127.0.0.1:9' })({} as never),
    '127.0.0.1:9',
  );
});

test('tutti executor keeps trying an API server that does not answer, saying why in its log, /readyz and to tasks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hg-exec-unreach-'));
  await writeFile(join(dir, 'kubeconfig'), KUBECONFIG);
  await writeFile(join(dir, 'config.yaml'), CONFIG);
  const child = spawn(
    process.execPath,
    [
      TUTTI,
      'executor',
      '--config',
      join(dir, 'config.yaml'),
      '--data-dir',
      join(dir, 'data'),
      '--task-port',
      '0',
      '--health-port',
      '0',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), TUTTI_LOG_LEVEL: 'info' },
    },
  );
  const exited = once(child, 'exit');
  try {
    const lines = createInterface({ input: child.stderr! });
    let healthPort = 0;
    let taskPort = 0;
    let failure: Record<string, unknown> | undefined;
    for await (const line of lines) {
      if (!line.startsWith('{')) continue; // not a log line
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e['msg'] === 'executor running') {
        healthPort = e['healthPort'] as number;
        taskPort = e['taskPort'] as number;
      }
      if (String(e['msg']).startsWith('cannot bring the AVS up')) {
        failure = e;
        break;
      }
    }
    assert.ok(failure, 'a failed attempt is logged');
    assert.equal(failure['msg'], 'cannot bring the AVS up; will try again');
    assert.equal(failure['avs'], '0xa');
    assert.match(String(failure['err']), /cannot reach the API server: connect ECONNREFUSED 127\.0\.0\.1:1/);
    assert.doesNotMatch(String(failure['err']), /CRD installed|allowed/, 'no hint that points elsewhere');
    assert.deepEqual([failure['attempt'], failure['retryInMs']], [1, 30_000]);

    assert.notEqual(healthPort, 0);
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    assert.equal(res.status, 500);
    assert.match(
      await res.text(),
      /^\[-\]performers-in-service failed: AVS 0xa has no performer in service: .*ECONNREFUSED 127\.0\.0\.1:1\nnot ok\n$/,
    );
    // A configured AVS with no performer yet is unavailable (worth asking again), not unknown.
    const tasks = new ExecutorClient(`127.0.0.1:${taskPort}`);
    try {
      await assert.rejects(
        tasks.submitTask('0xA', 't-1', 'x'),
        /UNAVAILABLE: cannot run task t-1: no performer is in service yet for 0xA: .*ECONNREFUSED/,
      );
      await assert.rejects(
        tasks.submitTask('0xb', 't-2', 'x'),
        /NOT_FOUND: this executor serves no AVS 0xb \(it serves 0xa\)/,
      );
    } finally {
      tasks.close();
    }
    assert.equal(child.exitCode, null, 'still running, to try again');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
