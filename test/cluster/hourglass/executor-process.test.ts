import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { type Performer, Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { Executor, type ExecutorOptions } from '../../../src/hourglass/executor/executor.js';
import { saveExecutorState } from '../../../src/hourglass/executor/executor-state.js';
import {
  ExecutorClient,
  type RunningTaskServer,
  startTaskServer,
} from '../../../src/hourglass/executor/task-server.js';
import { startPerformerServer } from '../../../src/hourglass/grpc/performer-server.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { type RoleBindings, Roles } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testKubeconfig } from '../../support/cluster.js';
import { refuseDeletions } from './executor-support.js';
import {
  asServiceAccount,
  livePerformers,
  metric,
  performer,
  setup,
  startController,
} from './operator-support.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

const AVS = '0xAVS_exec';

/** Writes the config as a ConfigMap volume changes it: a new file renamed over the old. */
async function writeConfig(path: string, ns: string, tag: string): Promise<void> {
  const config = {
    grpcPort: 9090,
    kubernetes: { namespace: ns, connectionTimeout: '10s', retryDelay: '200ms' },
    avsPerformers: [
      { avsAddress: AVS, image: { repository: 'ghcr.io/acme/perf', tag }, deploymentMode: 'kubernetes' },
    ],
  };
  await writeFile(`${path}.new`, stringify(config));
  await rename(`${path}.new`, path);
}

/** A directory of the test's own, removed after it, holding a v1 config; its path and the config's. */
async function configDir(
  t: TestContext,
  prefix: string,
  ns: string,
): Promise<{ dir: string; configPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.yaml');
  await writeConfig(configPath, ns, 'v1');
  return { dir, configPath };
}

/**
 * A reference performer server for each of v1 and v2, killed after the test, and the endpoint
 * resolver that sends a Performer to its version's server: out of cluster, on loopback.
 */
async function versionServers(
  t: TestContext,
  v1Options: Partial<Parameters<typeof startPerformerServer>[0]> = {},
) {
  const v1 = await startPerformerServer({ port: 0, host: '127.0.0.1', ...v1Options });
  const v2 = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => {
    v1.kill();
    v2.kill();
  });
  const ports: Record<string, number> = { v1: v1.port, v2: v2.port };
  return { v1, v2, byVersion: (p: Performer) => `127.0.0.1:${ports[p.spec.version!]}` };
}

/** Short gRPC retries and a 200 ms redeploy backoff, so that a failed deploy or removal is tried again soon. */
const RETRYING = {
  healthPort: 0,
  grpc: { retry: { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 2000 } },
  readyTimeoutMs: 90_000,
  pollIntervalMs: 200,
  redeployBackoffMs: 200,
} satisfies Partial<ExecutorOptions>;

interface Running {
  executor: Executor;
  tasks: RunningTaskServer;
  client: ExecutorClient;
}

/** Starts `executor` with its task server; a client of that server, all stopped after the test. */
async function serving(t: TestContext, executor: Executor): Promise<ExecutorClient> {
  await executor.start();
  const tasks = await startTaskServer(executor, { port: 0, host: '127.0.0.1' });
  const taskClient = new ExecutorClient(`127.0.0.1:${tasks.port}`);
  t.after(async () => {
    taskClient.close();
    await Promise.all([tasks.close(), executor.stop()]);
  });
  return taskClient;
}

/** What an earlier run left: its InService Performer `in-service` (v1, as configured), named in the state. */
async function leftInService(client: KubeClient, ns: string, dataDir: string): Promise<void> {
  await client.create({
    ...performer(ns, 'in-service', { avsAddress: AVS }),
    metadata: {
      name: 'in-service',
      namespace: ns,
      labels: {
        'app.kubernetes.io/managed-by': 'hourglass-executor',
        'hourglass.eigenlayer.io/avs': '0xavs-exec',
      },
    },
  });
  await mkdir(dataDir);
  await saveExecutorState(dataDir, {
    generation: 1,
    avs: {
      [AVS.toLowerCase()]: {
        performerId: 'in-service',
        image: 'ghcr.io/acme/perf',
        version: 'v1',
        generation: 1,
        deployedAt: new Date().toISOString(),
      },
    },
  });
}

test('tutti executor: deploys on start, blue-green on a config change, adopts its performer after a restart', async (t) => {
  const { client, ns } = await setup(t, 'hg-exe');
  await startController(t, ns);
  const { v1, v2, byVersion } = await versionServers(t);
  const { dir, configPath } = await configDir(t, 'hg-exe', ns);
  const dataDir = join(dir, 'data');

  const start = async (): Promise<Running> => {
    const executor = new Executor({
      configPath,
      dataDir,
      client,
      healthPort: 0,
      endpointResolver: byVersion,
      grpc: { retry: { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 5000 } },
      readyTimeoutMs: 90_000,
      pollIntervalMs: 200,
    });
    await executor.start();
    const tasks = await startTaskServer(executor, { port: 0, host: '127.0.0.1' });
    const taskClient = new ExecutorClient(`127.0.0.1:${tasks.port}`);
    return { executor, tasks, client: taskClient };
  };
  const stop = async (r: Running) => {
    r.client.close();
    await Promise.all([r.tasks.close(), r.executor.stop()]);
  };

  // Start: the performer is deployed through the operator, and tasks run on it.
  let run = await start();
  t.after(() => stop(run));
  const readyz = async () => (await fetch(`http://127.0.0.1:${run.executor.healthPort}/readyz`)).status;
  await run.executor.settled();
  assert.deepEqual(run.executor.failures(), {});
  const [first] = run.executor.performers();
  assert.ok(first);
  assert.deepEqual([first.status, first.version, first.ready], ['InService', 'v1', true]);
  const p1 = await client.find(Performers, first.performerId, ns);
  assert.equal(p1?.status?.phase, 'Running', 'the operator runs the Performer');
  assert.equal(await readyz(), 200);
  const r1 = await run.client.submitTask(AVS, 't-1', 'hello');
  assert.deepEqual([r1.taskId, r1.result.toString(), r1.performerId], ['t-1', 'hello', first.performerId]);
  assert.equal(v1.tasksReceived, 1);
  const state1 = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));
  assert.equal(state1.generation, 1);
  assert.equal(state1.avs[AVS.toLowerCase()].performerId, first.performerId);
  assert.equal(await metric(run.executor.healthPort, /^hourglass_executor_deployment_generation (\d+)/m), 1);
  await assert.rejects(run.client.submitTask('0xother', 't-x', ''), /NOT_FOUND.*serves no AVS 0xother/);
  // The AVS in other capitals is the same AVS, counted under the config's spelling.
  assert.equal((await run.client.submitTask(AVS.toUpperCase(), 't-1b', 'HELLO')).result.toString(), 'HELLO');
  // Counted, but not under the caller's spelling: callers cannot add series.
  const metrics = await (await fetch(`http://127.0.0.1:${run.executor.healthPort}/metrics`)).text();
  assert.match(metrics, /^hourglass_executor_tasks_total\{avs="",result="unknown_avs"\} 1$/m);
  assert.match(metrics, new RegExp(`^hourglass_executor_tasks_total\\{avs="${AVS}",result="ok"\\} 2$`, 'm'));
  assert.doesNotMatch(metrics, /0xother|0XAVS/);

  // A config change: v2 is deployed blue-green, the v1 Performer goes.
  await writeConfig(configPath, ns, 'v2');
  const second = await waitFor(
    () => run.executor.performers().find((p) => p.status === 'InService' && p.version === 'v2'),
    { description: 'v2 to be in service', timeoutMs: 120_000, intervalMs: 200 },
  );
  await waitFor(async () => !(await client.find(Performers, first.performerId, ns)), {
    description: 'the v1 Performer to be deleted',
    timeoutMs: 60_000,
  });
  await run.executor.settled();
  const r2 = await run.client.submitTask(AVS, 't-2', 'again');
  assert.equal(r2.performerId, second.performerId);
  assert.equal(v2.tasksReceived, 1);
  assert.equal(run.executor.generation, 2);

  // An invalid change is refused; the config in force stays.
  const invalidBefore = await metric(
    run.executor.healthPort,
    /^hourglass_executor_config_reloads_total\{result="invalid"\} (\d+)/m,
  );
  await writeFile(
    `${configPath}.new`,
    stringify({ avsPerformers: [{ avsAddress: AVS, image: 'x', deploymentMode: 'docker' }] }),
  );
  await rename(`${configPath}.new`, configPath);
  await waitFor(
    async () =>
      (await metric(
        run.executor.healthPort,
        /^hourglass_executor_config_reloads_total\{result="invalid"\} (\d+)/m,
      )) > invalidBefore,
    { description: 'the invalid config to be seen', timeoutMs: 20_000 },
  );
  assert.equal((await run.client.submitTask(AVS, 't-3', 'still')).performerId, second.performerId);
  await writeConfig(configPath, ns, 'v2');

  // A restart: the state names the InService Performer; it is adopted, not redeployed.
  const before = await client.find(Performers, second.performerId, ns);
  await stop(run);
  run = await start();
  await run.executor.settled();
  assert.deepEqual(run.executor.failures(), {});
  assert.deepEqual(
    run.executor.performers().map((p) => [p.performerId, p.status]),
    [[second.performerId, 'InService']],
  );
  assert.equal(run.executor.generation, 2, 'no deployment on restart');
  const items = (await client.list(Performers, { namespace: ns })).items;
  assert.deepEqual(
    items.map((p) => [p.metadata?.name, p.metadata?.uid]),
    [[second.performerId, before?.metadata?.uid]],
  );
  assert.equal(await readyz(), 200);
  assert.equal((await run.client.submitTask(AVS, 't-4', 'back')).result.toString(), 'back');
  assert.equal(v2.tasksReceived, 3);
});

test('tutti executor: a Performer left staged by a crash is removed on start; a deploy that fails is rolled back and retried', async (t) => {
  const { client, ns } = await setup(t, 'hg-exf');
  const { dir, configPath } = await configDir(t, 'hg-exf', ns);
  // What a crash in the middle of a deploy leaves: a Performer the executor made, never promoted.
  await client.create({
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: {
      name: 'left-over',
      namespace: ns,
      labels: {
        'app.kubernetes.io/managed-by': 'hourglass-executor',
        'hourglass.eigenlayer.io/avs': '0xavs-exec',
      },
    },
    spec: { avsAddress: AVS, image: 'ghcr.io/acme/perf', version: 'v0' },
  });
  // No operator runs here, so the new Performer never gets Ready.
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client,
    healthPort: 0,
    endpointResolver: () => '127.0.0.1:1',
    readyTimeoutMs: 2000,
    pollIntervalMs: 100,
    redeployBackoffMs: 60_000,
  });
  t.after(() => executor.stop());
  await executor.start();
  await executor.settled();
  assert.match(
    executor.failures()[AVS] ?? '',
    /deploy of ghcr\.io\/acme\/perf v1 rolled back: performer 0xavs-exec-[0-9a-f]{8} did not become Ready/,
  );
  assert.deepEqual(await livePerformers(client, ns), [], 'rolled back, left-over removed');
  assert.equal((await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`)).status, 500);
  assert.equal(
    await metric(
      executor.healthPort,
      /^hourglass_executor_deployments_total\{avs="0xAVS_exec",result="rolled_back"\} (\d+)/m,
    ),
    1,
  );
});

/** `tutti executor` as a process; resolves with its ports once it logs that it runs. */
async function spawnExecutor(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, [TUTTI, 'executor', '--task-port=0', '--health-port=0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, KUBECONFIG: testKubeconfig(), TUTTI_LOG_LEVEL: 'info' },
  });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const messages: string[] = [];
  const ports = new Promise<{ taskPort: number; healthPort: number }>((resolve) =>
    createInterface({ input: child.stderr! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { msg?: string; taskPort?: number; healthPort?: number };
        if (e.msg) messages.push(e.msg);
        if (e.msg === 'executor running') resolve({ taskPort: e.taskPort!, healthPort: e.healthPort! });
      } catch {
        // not a log line
      }
    }),
  );
  const running = await Promise.race([
    ports,
    exited.then(([code]) => {
      throw new Error(`tutti executor exited with ${code} before it ran`);
    }),
  ]);
  return { child, exited, messages, ...running };
}

test('tutti executor as a process: SIGTERM leaves the performer running, the next start adopts it', async (t) => {
  const { client, ns } = await setup(t, 'hg-exp');
  await startController(t, ns);
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const { dir, configPath } = await configDir(t, 'hg-exp', ns);
  const args = [
    `--config=${configPath}`,
    `--data-dir=${join(dir, 'data')}`,
    `--performer-endpoint=127.0.0.1:${server.port}`,
  ];

  const first = await spawnExecutor(t, args);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${first.healthPort}/readyz`)).ok, {
    description: 'the executor to have its performer in service',
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  const tasks = new ExecutorClient(`127.0.0.1:${first.taskPort}`);
  const r1 = await tasks.submitTask(AVS, 'p-1', 'one');
  tasks.close();
  assert.equal(r1.result.toString(), 'one');
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, [0, null]);
  const left = (await client.list(Performers, { namespace: ns })).items.map((p) => p.metadata?.name);
  assert.deepEqual(left, [r1.performerId], 'the performer outlives the executor');

  const second = await spawnExecutor(t, args);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${second.healthPort}/readyz`)).ok, {
    description: 'the restarted executor to be ready',
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  assert.ok(second.messages.includes('in-service performer adopted from the state'));
  assert.ok(!second.messages.includes('deploying performer'), 'nothing redeployed');
  const again = new ExecutorClient(`127.0.0.1:${second.taskPort}`);
  t.after(() => again.close());
  assert.equal((await again.submitTask(AVS, 'p-2', 'two')).performerId, r1.performerId);
  assert.equal(server.tasksReceived, 2);
});

test('tutti executor: stopping in the middle of a deploy ends the wait for the new performer', async (t) => {
  const { client, ns } = await setup(t, 'hg-exs');
  const { dir, configPath } = await configDir(t, 'hg-exs', ns);
  // No operator: the Performer never gets Ready, so the deploy waits (for up to 10 minutes).
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client,
    healthPort: 0,
    endpointResolver: () => '127.0.0.1:1',
    readyTimeoutMs: 600_000,
    pollIntervalMs: 100,
  });
  await executor.start();
  await waitFor(async () => (await client.list(Performers, { namespace: ns })).items.length === 1, {
    description: 'the deploy to create its Performer',
    timeoutMs: 30_000,
  });
  let stopped = false;
  const stopping = executor.stop().then(() => {
    stopped = true;
  });
  await waitFor(() => stopped, { description: 'stop to call the deploy off', timeoutMs: 30_000 });
  await stopping;
  // Rolled back: the Performer it was waiting for is deleted (it stays Terminating here, with no
  // operator to remove its finalizer), and the state names none.
  assert.equal((await client.list(Performers, { namespace: ns })).items.length, 1);
  assert.deepEqual(await livePerformers(client, ns), []);
  await assert.rejects(readFile(join(dir, 'data', 'state.json'), 'utf8'), { code: 'ENOENT' });
});

test('tutti executor: stopped while a promotion drains the old performer, it finishes the promotion; the next start adopts the new one', async (t) => {
  const { client, ns } = await setup(t, 'hg-exq');
  await startController(t, ns);
  // v1 slow enough that the promotion to v2 is still draining its task when stop is called.
  const { v1, byVersion } = await versionServers(t, { behaviour: 'delay', delayMs: 4000 });
  const { dir, configPath } = await configDir(t, 'hg-exq', ns);
  const dataDir = join(dir, 'data');
  const executor = () =>
    new Executor({
      configPath,
      dataDir,
      client,
      healthPort: 0,
      endpointResolver: byVersion,
      grpc: { retry: { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 10_000 } },
      readyTimeoutMs: 90_000,
      pollIntervalMs: 100,
    });
  const state = async () => JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));

  const first = executor();
  const tasks = await serving(t, first);
  await first.settled();
  const [p1] = first.performers();
  assert.equal(p1?.version, 'v1');
  const slow = tasks.submitTask(AVS, 'slow', 'on-v1');
  await waitFor(() => v1.tasksInFlight === 1, { description: 'the task to reach v1', timeoutMs: 10_000 });
  await writeConfig(configPath, ns, 'v2');
  await waitFor(
    () =>
      first
        .performers()
        .some((p) => p.performerId === p1.performerId && p.status === 'Staged' && p.tasksInFlight === 1),
    { description: 'the promotion to v2 to drain v1', timeoutMs: 120_000, intervalMs: 50 },
  );
  const p2 = first.performers().find((p) => p.status === 'InService')!;
  assert.equal(p2.version, 'v2');

  let stopped = false;
  const stopping = first.stop().then(() => {
    stopped = true;
  });
  assert.equal((await slow).result.toString(), 'on-v1', 'the task in flight finishes');
  // Ends once the task does and v1 is deleted, not at the drain timeout (60 s).
  await waitFor(() => stopped, { description: 'stop to return', timeoutMs: 30_000 });
  await stopping;
  // As stop returns, the state and the cluster agree: the promotion is saved, v1 is going.
  const saved = await state();
  assert.equal(saved.avs[AVS.toLowerCase()]?.performerId, p2.performerId);
  assert.equal(saved.generation, 2);
  assert.deepEqual(await livePerformers(client, ns), [p2.performerId]);

  const second = executor();
  const again = await serving(t, second);
  await second.settled();
  assert.deepEqual(second.failures(), {});
  assert.equal(second.generation, 2, 'nothing redeployed');
  assert.deepEqual(
    second.performers().map((p) => [p.performerId, p.status, p.version]),
    [[p2.performerId, 'InService', 'v2']],
  );
  await waitFor(
    async () => (await client.list(Performers, { namespace: ns })).items.length === 1 || undefined,
    { description: 'v1 to be gone', timeoutMs: 60_000 },
  );
  assert.deepEqual(
    (await client.list(Performers, { namespace: ns })).items.map((p) => p.metadata?.name),
    [p2.performerId],
    'exactly one Performer: no orphan',
  );
  assert.equal((await state()).avs[AVS.toLowerCase()]?.performerId, p2.performerId);
  assert.equal((await fetch(`http://127.0.0.1:${second.healthPort}/readyz`)).status, 200);
  const r = await again.submitTask(AVS, 'after', 'on-v2');
  assert.deepEqual([r.result.toString(), r.performerId], ['on-v2', p2.performerId]);
});

test('tutti executor: a deleted InService Performer is noticed: not ready, not listed, then redeployed', async (t) => {
  const { client, ns } = await setup(t, 'hg-exd');
  await startController(t, ns);
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const { dir, configPath } = await configDir(t, 'hg-exd', ns);
  // The first performer is served; a replacement is not (port 1 refuses) until the test lets it.
  let replacementPort = 1;
  let first: string | undefined;
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client,
    endpointResolver: (p) => {
      first ??= p.metadata!.name;
      return `127.0.0.1:${first === p.metadata!.name ? server.port : replacementPort}`;
    },
    ...RETRYING,
  });
  const taskClient = await serving(t, executor);
  const readyz = async () => (await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`)).status;
  const inService = () =>
    metric(executor.healthPort, /^hourglass_executor_performer_in_service\{avs="0xAVS_exec"\} (\d+)/m);
  await executor.settled();
  const [before] = await taskClient.listPerformers();
  assert.deepEqual([before?.performerId, before?.status, before?.ready], [first, 'InService', true]);
  assert.equal(await readyz(), 200);

  await client.delete(Performers, first!, ns);
  // Until a replacement serves: not listed, not ready, not counted in service.
  await waitFor(async () => (await taskClient.listPerformers()).every((p) => p.performerId !== first), {
    description: 'the deleted performer to leave ListPerformers',
    timeoutMs: 30_000,
  });
  assert.ok((await taskClient.listPerformers()).every((p) => p.status !== 'InService'));
  assert.equal(await readyz(), 500);
  assert.equal(await inService(), 0);
  await assert.rejects(taskClient.submitTask(AVS, 'd-1', 'x'), /UNAVAILABLE.*no performer is in service/);

  replacementPort = server.port;
  const after = await waitFor(
    async () => (await taskClient.listPerformers()).find((p) => p.status === 'InService' && p.ready),
    { description: 'a replacement performer in service', timeoutMs: 120_000, intervalMs: 250 },
  );
  assert.notEqual(after.performerId, first);
  assert.equal(await readyz(), 200);
  assert.equal(await inService(), 1);
  assert.equal((await taskClient.submitTask(AVS, 'd-2', 'back')).performerId, after.performerId);
});

test('tutti executor: an adopted Performer deleted before the watch starts is noticed: not ready, then redeployed', async (t) => {
  const { client, ns } = await setup(t, 'hg-exw');
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const { dir, configPath } = await configDir(t, 'hg-exw', ns);
  const dataDir = join(dir, 'data');
  await leftInService(client, ns, dataDir);
  // No operator yet: a replacement waits for Ready until the test starts one.
  const executor = new Executor({
    configPath,
    dataDir,
    client,
    endpointResolver: () => `127.0.0.1:${server.port}`,
    ...RETRYING,
    // Deleted once adopted, before the watch lists: gone by the time it does.
    beforeWatch: async (_avs, adopted) => {
      assert.equal(adopted, 'in-service');
      await client.delete(Performers, adopted, ns);
      await waitFor(async () => !(await client.find(Performers, adopted, ns)), {
        description: 'the adopted Performer to be gone',
        timeoutMs: 30_000,
      });
    },
  });
  t.after(() => executor.stop());
  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  const inService = () =>
    metric(executor.healthPort, /^hourglass_executor_performer_in_service\{avs="0xAVS_exec"\} (\d+)/m);
  await executor.start();

  // The replacement's Performer appears only because the deletion was noticed.
  const replacement = await waitFor(
    async () => (await livePerformers(client, ns)).find((name) => name !== 'in-service'),
    { description: 'a replacement Performer to be created', timeoutMs: 30_000, intervalMs: 100 },
  );
  assert.ok(executor.performers().every((p) => p.performerId !== 'in-service' && p.status !== 'InService'));
  assert.deepEqual(await readyz(), {
    status: 500,
    body: `[-]performers-in-service failed: AVS ${AVS} has no performer in service: being deployed\nnot ok\n`,
  });
  assert.equal(await inService(), 0);

  await startController(t, ns);
  await waitFor(async () => (await readyz()).status === 200, {
    description: 'the replacement to be in service',
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  assert.deepEqual(
    executor.performers().map((p) => [p.performerId, p.status]),
    [[replacement, 'InService']],
  );
  assert.equal(await inService(), 1);
  // /readyz passes at the promotion; the state is written just after it.
  await executor.settled();
  assert.equal(JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')).generation, 2);
});

test('tutti executor: a remembered Performer it cannot read is kept, not taken for gone; adopted once it can', async (t) => {
  const { client, ns } = await setup(t, 'hg-exa');
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const { dir, configPath } = await configDir(t, 'hg-exa', ns);
  const dataDir = join(dir, 'data');
  await leftInService(client, ns, dataDir);
  // The executor's account may list, watch, create and delete Performers but not get one: the
  // adoption's read is refused, while the rest of a start would go through.
  const rules = (verbs: string[]) => [
    { apiGroups: ['hourglass.eigenlayer.io'], resources: ['performers'], verbs },
  ];
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'executor', namespace: ns },
    rules: rules(['list', 'watch', 'create', 'delete']),
  } as typeof Roles.__type & object);
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'executor', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'executor' },
    subjects: [{ kind: 'ServiceAccount', name: 'executor', namespace: ns }],
  } as typeof RoleBindings.__type & object);
  const asExecutor = await asServiceAccount(client, ns, 'executor');
  const executor = new Executor({
    configPath,
    dataDir,
    client: asExecutor,
    endpointResolver: () => `127.0.0.1:${server.port}`,
    ...RETRYING,
    readyTimeoutMs: 5000,
  });
  const tasks = await serving(t, executor);
  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`);
    return { status: res.status, body: await res.text() };
  };

  const failure = await waitFor(() => executor.failures()[AVS], {
    description: 'the first attempt to fail',
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  assert.match(failure, /cannot adopt performer in-service, in service before the restart: .*forbidden/);
  const kept = await client.find(Performers, 'in-service', ns);
  assert.ok(kept && !kept.metadata?.deletionTimestamp, 'the Performer in service is not deleted');
  assert.deepEqual(await livePerformers(client, ns), ['in-service'], 'nothing deployed in its place');
  const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));
  assert.equal(state.avs[AVS.toLowerCase()]?.performerId, 'in-service', 'the state still names it');
  const notReady = await readyz();
  assert.equal(notReady.status, 500);
  assert.match(
    notReady.body,
    /AVS 0xAVS_exec has no performer in service: cannot adopt performer in-service/,
  );

  // Allowed to read it: a retry adopts it, and nothing is redeployed.
  await client.patch(Roles, 'executor', ns, { rules: rules(['get', 'list', 'watch', 'create', 'delete']) });
  await waitFor(async () => (await readyz()).status === 200, {
    description: 'the retry to adopt the Performer',
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  assert.deepEqual(
    executor.performers().map((p) => [p.performerId, p.status]),
    [['in-service', 'InService']],
  );
  assert.deepEqual(executor.failures(), {});
  assert.equal(executor.generation, 1, 'nothing redeployed');
  assert.deepEqual(await livePerformers(client, ns), ['in-service']);
  assert.equal((await tasks.submitTask(AVS, 'a-1', 'adopted')).performerId, 'in-service');

  // Whereas one that is gone is forgotten: the next start deploys a replacement.
  await executor.stop();
  await client.delete(Performers, 'in-service', ns);
  await waitFor(async () => !(await client.find(Performers, 'in-service', ns)), {
    description: 'the Performer to be gone',
    timeoutMs: 30_000,
  });
  const next = new Executor({
    configPath,
    dataDir,
    client,
    healthPort: 0,
    endpointResolver: () => `127.0.0.1:${server.port}`,
    readyTimeoutMs: 60_000,
    pollIntervalMs: 200,
  });
  t.after(() => next.stop());
  await next.start();
  await waitFor(async () => (await livePerformers(client, ns)).length === 1 || undefined, {
    description: 'a replacement Performer to be created',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
});

test("tutti executor: a task whose caller's deadline has passed is not run when the performer comes back", async (t) => {
  const { client, ns } = await setup(t, 'hg-deadline');
  await startController(t, ns);
  const avs = '0xAVS_deadline';
  const performerServer = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  const port = performerServer.port;
  const dir = await mkdtemp(join(tmpdir(), 'hg-deadline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.yaml');
  await writeFile(
    configPath,
    stringify({
      kubernetes: { namespace: ns, connectionTimeout: '10s', retryDelay: '200ms' },
      avsPerformers: [{ avsAddress: avs, image: { repository: 'ghcr.io/acme/perf', tag: 'v1' } }],
    }),
  );
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client,
    healthPort: 0,
    endpointResolver: () => `127.0.0.1:${port}`,
    // The executor's retries would outlast the caller's deadline many times over.
    grpc: {
      retry: { initialDelayMs: 50, maxDelayMs: 50, maxAttempts: 1000, attemptTimeoutMs: 5000 },
      circuitBreaker: { failureThreshold: 1000 },
    },
    readyTimeoutMs: 90_000,
    pollIntervalMs: 200,
    watchConfig: false,
  });
  const taskClient = await serving(t, executor);
  await executor.settled();
  assert.deepEqual(executor.failures(), {});

  // The performer goes away; the caller waits one second: told it is unavailable, or given up.
  performerServer.kill();
  await assert.rejects(taskClient.submitTask(avs, 'late', 'x', 1000), /UNAVAILABLE|DEADLINE_EXCEEDED/);
  const back = await startPerformerServer({ port, host: '127.0.0.1' });
  t.after(() => back.kill());
  const counted = (result: string) =>
    metric(
      executor.healthPort,
      new RegExp(`^hourglass_executor_tasks_total\\{avs="${avs}",result="${result}"\\} (\\d+)`, 'm'),
    );
  await waitFor(async () => (await counted('ok')) + (await counted('unavailable')) === 1, {
    description: 'the executor to finish with the task',
    timeoutMs: 30_000,
  });
  assert.equal(await counted('unavailable'), 1);
  assert.equal(back.tasksReceived, 0, 'the task was not run after its caller gave up');
});

/**
 * An executor of the AVS in `ns` on a performer server of its own, retrying soon; once settled with
 * its first performer in service.
 */
async function inService(t: TestContext, client: KubeClient, ns: string, prefix: string) {
  const server = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.kill());
  const { dir, configPath } = await configDir(t, prefix, ns);
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client,
    endpointResolver: () => `127.0.0.1:${server.port}`,
    ...RETRYING,
  });
  const taskClient = await serving(t, executor);
  await executor.settled();
  const [first] = executor.performers();
  assert.equal(first?.status, 'InService');
  return { executor, taskClient, configPath, first };
}

test('tutti executor: an AVS moved to another namespace while its Performer cannot be deleted is tried again, then moved', async (t) => {
  const { client, ns } = await setup(t, 'hg-exm');
  const { ns: ns2 } = await setup(t, 'hg-exm2');
  await startController(t, ns);
  await startController(t, ns2);
  const { executor, taskClient, configPath, first } = await inService(t, client, ns, 'hg-exm');

  // Another namespace: the AVS's performers go and it is deployed there, but the API server
  // refuses to delete the old Performer for now.
  const allowDeletions = await refuseDeletions(t, client, ns, first.performerId);
  await writeConfig(configPath, ns2, 'v1');
  await waitFor(() => /no Performer deletions here/.test(executor.failures()[AVS] ?? ''), {
    description: 'the failed removal to be reported as a failure of the AVS',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  const readyz = await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`);
  assert.equal(readyz.status, 500);
  assert.match(
    await readyz.text(),
    /AVS 0xAVS_exec has no performer in service: cannot remove its performers: .*no Performer deletions here/,
  );
  await assert.rejects(taskClient.submitTask(AVS, 'm-0', 'x'), /UNAVAILABLE.*the performer is draining/);

  // Tried again until the deletion goes through: the AVS serves from the new namespace, and the
  // old one is left with no Performer running on unmanaged.
  await allowDeletions();
  const replacement = await waitFor(
    () => executor.performers().find((p) => p.status === 'InService' && p.performerId !== first.performerId),
    { description: 'a performer in service in the new namespace', timeoutMs: 120_000, intervalMs: 250 },
  );
  assert.deepEqual(await livePerformers(client, ns2), [replacement.performerId]);
  await waitFor(async () => !(await client.find(Performers, first.performerId, ns)), {
    description: 'the old Performer to be deleted',
    timeoutMs: 60_000,
  });
  await executor.settled();
  assert.deepEqual(executor.failures(), {});
  assert.equal((await taskClient.submitTask(AVS, 'm-1', 'moved')).performerId, replacement.performerId);
});

test('tutti executor: a settings change whose removal fails, then reverted, takes its performer back into service', async (t) => {
  const { client, ns } = await setup(t, 'hg-exr');
  const { ns: ns2 } = await setup(t, 'hg-exr2');
  await startController(t, ns);
  const { executor, taskClient, configPath, first } = await inService(t, client, ns, 'hg-exr');
  const readyz = async () => (await fetch(`http://127.0.0.1:${executor.healthPort}/readyz`)).status;

  // Moved to another namespace, but the old Performer cannot be deleted: the AVS refuses tasks.
  await refuseDeletions(t, client, ns, first.performerId);
  await writeConfig(configPath, ns2, 'v1');
  await waitFor(() => /cannot remove its performers/.test(executor.failures()[AVS] ?? ''), {
    description: 'the failed removal to be reported',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  assert.equal(await readyz(), 500);

  // The move is undone while deletions are still refused: the Performer it could not remove is
  // the one wanted, and it serves again.
  await writeConfig(configPath, ns, 'v1');
  await waitFor(async () => (await readyz()) === 200, {
    description: 'the AVS to have its performer in service again',
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  await executor.settled();
  assert.deepEqual(executor.failures(), {});
  assert.deepEqual(
    executor.performers().map((p) => [p.performerId, p.status]),
    [[first.performerId, 'InService']],
  );
  assert.deepEqual(await livePerformers(client, ns2), [], 'nothing deployed under the settings undone');
  assert.equal(executor.generation, 1, 'nothing redeployed');
  assert.equal((await taskClient.submitTask(AVS, 'r-1', 'back')).performerId, first.performerId);
});
