import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { AStarPlanner } from '../../../src/planner/astar.js';
import { type PluginEvent, PluginManager } from '../../../src/planner/plugins/manager.js';
import { ScaleOutByTwoActuator } from '../../../src/planner/plugins/scale-by-two.js';
import { servePlugin } from '../../../src/planner/plugins/serve.js';
import { IdoRegistrationClient, PluginManagerClient } from '../../../src/planner/plugins/wire.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { p95Goal, workload } from './support.js';

const planner = new AStarPlanner({ maxStates: 2000, maxCandidates: 10, opportunisticCandidates: 0 });

async function startManager(t: { after(fn: () => Promise<void>): void }, opts = {}) {
  const manager = await PluginManager.start({
    port: 0,
    host: '127.0.0.1',
    reserved: ['scale_out', 'scale_in', 'rm_pod', 'cpu_scale'],
    connectTimeoutMs: 1000,
    ...opts,
  });
  t.after(() => manager.close());
  const events: PluginEvent[] = [];
  manager.onEvent((e) => events.push(e));
  return { manager, events, address: `127.0.0.1:${manager.port}` };
}

function register(address: string, req: object): Promise<unknown> {
  const client = new PluginManagerClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client['Register']!(
      req,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, res: unknown) => {
        client.close();
        if (err) reject(err);
        else resolve(res);
      },
    ),
  );
}

test('the sample plugin registers, its candidates make up a plan, and perform and effect reach it', async (t) => {
  const { manager, events, address } = await startManager(t);
  const actuator = new ScaleOutByTwoActuator(16, undefined);
  const plugin = await servePlugin(actuator, {
    manager: address,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => plugin.kill());

  assert.deepEqual(
    manager.plugins().map((p) => [p.name, p.group, p.address]),
    [['scale_out_by_two', 'scaling', `127.0.0.1:${plugin.port}`]],
  );
  assert.equal(events[0]?.type, 'registered');
  assert.equal(plugin.registration.nextStateTimeoutMs, 2000);

  // p95 40 ms at one replica; ≤ 12 ms needs 4 replicas: two doublings, predicted by the plugin.
  const plan = await planner.plan(workload(1, { p95: 40, rps: 100 }), p95Goal(12), manager.actuators(), 0.5);
  assert.equal(plan.reachesGoal, true);
  assert.deepEqual(plan.actions, [
    { name: 'scale_out_by_two', properties: { replicas: 2 } },
    { name: 'scale_out_by_two', properties: { replicas: 4 } },
  ]);
  assert.equal(plan.state.objectives['p95'], 10);
  assert.ok(actuator.calls.nextState >= 2);

  const [remote] = manager.actuators();
  // Perform reaches the plugin; this one has no cluster access and says so.
  await assert.rejects(
    remote!.perform(workload(1, { p95: 40 }), plan.actions),
    /plugin "scale_out_by_two" \(127\.0\.0\.1:\d+\) Perform: INTERNAL: scale_out_by_two: cannot scale shop\/web: no cluster access/,
  );
  // A plan without its actions is none of its business.
  await remote!.perform(workload(1, { p95: 40 }), [{ name: 'scale_out', properties: { replicas: 2 } }]);
  assert.equal(actuator.calls.perform, 2);
  await remote!.effect(workload(4, { p95: 10 }), p95Goal(12));
  assert.equal(actuator.calls.effect, 1);
  // A failed perform is the plugin's own error, not a sign it is gone.
  assert.equal(manager.plugins().length, 1);
  assert.ok(events.some((e) => e.type === 'call-failed' && e.method === 'Perform'));

  await plugin.close();
  assert.equal(manager.plugins().length, 0);
  assert.equal(events.at(-1)?.type, 'deregistered');
});

test('registration refuses bad requests, taken names and plugins it cannot reach, naming why', async (t) => {
  const { manager, address } = await startManager(t);
  await assert.rejects(
    register(address, { name: 'Bad Name', endpoint: '127.0.0.1', port: 1 }),
    (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /name "Bad Name": must be 1–63 of \[a-z0-9_-\]/);
      return true;
    },
  );
  await assert.rejects(
    register(address, { name: 'x', endpoint: '127.0.0.1', port: 70000 }),
    /port 70000: must be 1–65535/,
  );
  await assert.rejects(register(address, { name: 'x', endpoint: '', port: 1 }), /endpoint: missing/);
  await assert.rejects(
    register(address, { name: 'x', endpoint: '127.0.0.1', port: 1, protocolVersion: 'v9' }),
    /protocol_version "v9": this planner speaks "v1"/,
  );
  await assert.rejects(
    register(address, { name: 'scale_out', endpoint: '127.0.0.1', port: 1 }),
    (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.ALREADY_EXISTS);
      assert.match(err.details, /belongs to a built-in actuator/);
      return true;
    },
  );
  // Port 9 (discard) has no listener here: the manager cannot reach a plugin there.
  await assert.rejects(
    register(address, { name: 'ghost', endpoint: '127.0.0.1', port: 9 }),
    (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /cannot reach plugin "ghost" at 127\.0\.0\.1:9 within 1000 ms/);
      return true;
    },
  );

  // An IDO plugin is answered in IDO's protocol: not registered, and why.
  const ido = new IdoRegistrationClient(address, grpc.credentials.createInsecure());
  const answer = await new Promise<{ pluginRegistered: boolean; error: string }>((resolve, reject) =>
    ido['Register']!(
      { pInfo: { type: 0, name: 'rdt', endpoint: '10.0.0.7:33334', supportedVersions: 'v1alpha1' } },
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, res: { pluginRegistered: boolean; error: string }) =>
        err ? reject(err) : resolve(res),
    ),
  );
  ido.close();
  assert.deepEqual(answer, {
    pluginRegistered: false,
    error:
      'plugin "rdt" speaks IDO\'s plugin protocol; this planner takes plugins that speak tutti.planner.v1 (plugin.proto)',
  });

  // A second live plugin may not take a name in use.
  const first = await servePlugin(new ScaleOutByTwoActuator(8, undefined), {
    manager: address,
    port: 0,
    host: '127.0.0.1',
    advertise: '127.0.0.1',
  });
  t.after(() => first.kill());
  await assert.rejects(
    servePlugin(new ScaleOutByTwoActuator(8, undefined), {
      manager: address,
      port: 0,
      host: '127.0.0.1',
      advertise: '127.0.0.1',
    }),
    /registering "scale_out_by_two" with the plugin manager at 127\.0\.0\.1:\d+ failed: plugin "scale_out_by_two" is already registered from 127\.0\.0\.1:\d+, which still answers/,
  );
  assert.deepEqual(
    manager.plugins().map((p) => p.address),
    [`127.0.0.1:${first.port}`],
  );
});

test('tutti planner sample-plugin says when the plugin manager cannot be reached', async () => {
  // A port nobody listens on: bound, then freed.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));

  const run = promisify(execFile)(
    process.execPath,
    [
      join(import.meta.dirname, '../../../bin/tutti.js'),
      'planner',
      'sample-plugin',
      '--manager',
      `127.0.0.1:${port}`,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    { env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' }, timeout: 60_000 },
  );
  const failed = await run.then(
    () => assert.fail('sample-plugin registered with nothing listening'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(failed.code, 1);
  const lastLine = failed.stderr.trimEnd().split('\n').at(-1);
  assert.equal(
    lastLine,
    `tutti planner sample-plugin: registering "scale_out_by_two" with the plugin manager at 127.0.0.1:${port} failed: cannot reach it: connect ECONNREFUSED 127.0.0.1:${port}`,
  );
});

/** `tutti planner sample-plugin` as its own process, registered with the manager. */
async function runSamplePlugin(t: { after(fn: () => void): void }, address: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '../../../bin/tutti.js'),
      'planner',
      'sample-plugin',
      '--manager',
      address,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    // No cluster: a kubeconfig that does not exist.
    { env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => /registered with/.test(output) || child.exitCode !== null, {
    description: 'the sample plugin process to register',
    timeoutMs: 60_000,
  });
  assert.equal(child.exitCode, null, `sample plugin exited: ${output}`);
  return child;
}

test('a killed plugin is reported and dropped; the plan goes on without it', async (t) => {
  const { manager, events, address } = await startManager(t, { healthIntervalMs: 500 });
  const child = await runSamplePlugin(t, address);
  assert.deepEqual(
    manager.plugins().map((p) => p.name),
    ['scale_out_by_two'],
  );
  const stale = manager.actuators();
  const before = await planner.plan(workload(1, { p95: 40, rps: 100 }), p95Goal(12), stale, 0.5);
  assert.equal(before.actions.length, 2);

  child.kill('SIGKILL');
  const dropped = await waitFor(() => events.find((e) => e.type === 'dropped'), {
    description: 'the plugin manager to drop the killed plugin',
    timeoutMs: 30_000,
  });
  assert.equal(dropped.plugin.name, 'scale_out_by_two');
  assert.deepEqual(manager.actuators(), []);
  // A search still holding the old actuator gets nothing from it, at once.
  const after = await planner.plan(workload(1, { p95: 40, rps: 100 }), p95Goal(12), stale, 0.5);
  assert.deepEqual(after.actions, []);
  assert.equal(after.reachesGoal, false);
  await assert.rejects(
    stale[0]!.perform(workload(1, {}), before.actions),
    /is no longer registered \(.+\); Perform not sent/,
  );
});

test('a hung plugin costs one deadline, then is dropped', async (t) => {
  // No health probes in this test: the deadline of the call is what must catch it.
  const { manager, events, address } = await startManager(t, {
    nextStateTimeoutMs: 500,
    healthIntervalMs: 3_600_000,
  });
  const child = await runSamplePlugin(t, address);
  const [remote] = manager.actuators();
  child.kill('SIGSTOP');
  t.after(() => {
    child.kill('SIGCONT');
  });
  assert.deepEqual(await remote!.nextState(workload(1, { p95: 40 }), p95Goal(12), 10), []);
  const dropped = events.find((e) => e.type === 'dropped');
  assert.ok(dropped?.type === 'dropped');
  assert.equal(dropped.reason, 'NextState: no answer within 500 ms');
  assert.deepEqual(manager.plugins(), []);
  // Later calls do not wait again.
  assert.deepEqual(await remote!.nextState(workload(1, { p95: 40 }), p95Goal(12), 10), []);
  assert.equal(events.filter((e) => e.type === 'dropped').length, 1);
});
