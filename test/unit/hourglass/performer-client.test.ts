import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CircuitOpenError,
  PerformerUnavailableError,
  TaskFailedError,
} from '../../../src/hourglass/grpc/errors.js';
import { HealthMonitor, type PerformerHealth } from '../../../src/hourglass/grpc/health-monitor.js';
import { PerformerClient, type TaskResult } from '../../../src/hourglass/grpc/performer-client.js';
import { startPerformerServer } from '../../../src/hourglass/grpc/performer-server.js';
import { waitFor } from '../../../src/runtime/wait.js';

const fast = { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 2000 };

test('tasks run on the reference performer; a task failure is final, never retried', async (t) => {
  const echo = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  const failing = await startPerformerServer({ port: 0, host: '127.0.0.1', behaviour: 'fail' });
  t.after(() => {
    echo.kill();
    failing.kill();
  });
  const client = new PerformerClient(`127.0.0.1:${echo.port}`, { retry: fast });
  t.after(() => client.close());

  const res = await client.executeTask({ taskId: 'task-1', payload: 'hello' });
  assert.equal(res.taskId, 'task-1');
  assert.equal(res.result.toString(), 'hello');
  await client.startSync();
  assert.equal(await client.checkHealth(), 'SERVING');
  echo.setServingStatus('NOT_SERVING');
  assert.equal(await client.checkHealth(), 'NOT_SERVING');

  const bad = new PerformerClient(`127.0.0.1:${failing.port}`, {
    retry: fast,
    circuitBreaker: { failureThreshold: 0 },
  });
  t.after(() => bad.close());
  const err = await bad.executeTask({ taskId: 'task-2', payload: 'x' }).catch((e: unknown) => e);
  assert.ok(err instanceof TaskFailedError, String(err));
  assert.match(err.message, /task task-2 failed on the performer: task task-2 failed \(gRPC code 13\)/);
  assert.equal(failing.tasksReceived, 1, 'not retried');
  assert.equal(bad.breaker.state, 'closed', 'the performer answered: the connection is fine');
  assert.throws(() => new PerformerClient('no-port'), /performer endpoint "no-port" is not host:port/);
});

test('each try has its own deadline, and slow tries are retried up to the limit', async (t) => {
  const slow = await startPerformerServer({
    port: 0,
    host: '127.0.0.1',
    behaviour: 'delay',
    delayMs: 10_000,
  });
  t.after(() => slow.kill());
  // Each try's deadline leaves a loaded machine room to connect and deliver the task.
  const client = new PerformerClient(`127.0.0.1:${slow.port}`, {
    retry: { ...fast, maxAttempts: 3, attemptTimeoutMs: 1000 },
  });
  t.after(() => client.close());
  const err = await client.executeTask({ taskId: 't', payload: '' }).catch((e: unknown) => e);
  assert.ok(err instanceof PerformerUnavailableError, String(err));
  assert.equal(err.attempts, 3);
  assert.match(err.message, /after 3 attempts: 4 DEADLINE_EXCEEDED/);
  assert.equal(slow.tasksReceived, 3);
  assert.equal(client.stats.retries, 2);
});

function spawnServer(port: number): Promise<{ child: ChildProcess; port: number }> {
  const bin = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [bin, 'performer-server', '--host', '127.0.0.1', '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) =>
      reject(new Error(`performer-server exited with ${code} before listening: ${out}`)),
    );
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

test('the performer process killed and restarted mid-way: retries carry the task over, the breaker opens and closes', async (t) => {
  let server = await spawnServer(0);
  const { port } = server;
  let now = 0;
  const retried: unknown[] = [];
  let restarting: Promise<unknown> | undefined;
  // Whichever server runs last — one may still be starting when the test fails — is stopped.
  t.after(async () => {
    await restarting?.catch(() => {});
    await kill(server.child);
  });
  const client = new PerformerClient(`127.0.0.1:${port}`, {
    // Enough tries (at most 100 ms apart) to span a performer process's start on a loaded machine
    // (up to 20 s seen), and a breaker that does not open meanwhile: the strict client below
    // tests the breaker.
    retry: { ...fast, maxAttempts: 600 },
    circuitBreaker: { failureThreshold: 1000, now: () => now },
    onRetry: (_attempt, err) => {
      retried.push(err);
      // The performer comes back while the task is being retried.
      restarting ??= spawnServer(port).then((s) => {
        server = s;
      });
    },
  });
  t.after(() => client.close());
  const health: PerformerHealth[] = [];
  const monitor = new HealthMonitor(client, { intervalMs: 50, onChange: (h) => health.push(h) });
  t.after(() => monitor.stop());
  monitor.start();

  assert.equal((await client.executeTask({ taskId: 'before', payload: 'a' })).result.toString(), 'a');
  await waitFor(() => health.includes('SERVING'), {
    description: 'the monitor to see SERVING',
    timeoutMs: 10_000,
  });
  await kill(server.child);
  await waitFor(() => health.at(-1) === 'UNREACHABLE', {
    description: 'the monitor to see the crash',
    timeoutMs: 10_000,
  });

  const res = await client.executeTask({ taskId: 'across-restart', payload: 'b' });
  assert.equal(res.result.toString(), 'b');
  assert.ok(retried.length >= 1, 'the first try failed on the dead performer');
  assert.equal((retried[0] as { code?: number }).code, 14, 'UNAVAILABLE');
  await waitFor(() => health.at(-1) === 'SERVING', {
    description: 'the monitor to see it back',
    timeoutMs: 10_000,
  });
  assert.equal(client.breaker.state, 'closed');

  // Killed again: a breaker with a low threshold opens and refuses calls without dialling.
  await kill(server.child);
  const strict = new PerformerClient(`127.0.0.1:${port}`, {
    retry: { ...fast, maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 2, openMs: 60_000, now: () => now },
  });
  t.after(() => strict.close());
  for (let i = 0; i < 3; i++) {
    const err = await strict.executeTask({ taskId: `down-${i}`, payload: '' }).catch((e: unknown) => e);
    assert.ok(err instanceof PerformerUnavailableError, `call ${i}: ${String(err)}`);
  }
  assert.equal(strict.breaker.state, 'open');
  const refused = await strict.executeTask({ taskId: 'refused', payload: '' }).catch((e: unknown) => e);
  assert.ok(refused instanceof CircuitOpenError, String(refused));
  assert.match(refused.message, /circuit breaker for 127\.0\.0\.1:\d+ is open.*next probe in 60000 ms/);

  // After the open period the half-open probe reaches the restarted performer and closes it.
  server = await spawnServer(port);
  now += 60_000;
  const probe = await waitFor(
    async () => {
      const r = await strict.executeTask({ taskId: 'probe', payload: 'c' }).catch((e: unknown) => e);
      if (r instanceof PerformerUnavailableError) now += 60_000; // the probe raced the restart
      return r instanceof Error ? undefined : (r as TaskResult);
    },
    { description: 'the half-open probe to succeed', timeoutMs: 20_000 },
  );
  assert.equal(probe.result.toString(), 'c');
  assert.equal(strict.breaker.state, 'closed');
  await restarting;
});

test("no try starts after the caller's deadline: a task is not run once its caller has given up", async (t) => {
  const gone = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  const port = gone.port;
  gone.kill();
  // Retries enough to outlast the deadline many times over.
  const client = new PerformerClient(`127.0.0.1:${port}`, {
    retry: { initialDelayMs: 50, maxDelayMs: 50, maxAttempts: 1000, attemptTimeoutMs: 2000 },
    circuitBreaker: { failureThreshold: 1000 },
  });
  t.after(() => client.close());
  const deadline = Date.now() + 500;
  const outcome = client.executeTask({ taskId: 'late', payload: 'x' }, { deadline }).then(
    (r) => r,
    (e: unknown) => e,
  );
  // The performer comes back only once the caller has stopped waiting.
  await waitFor(() => Date.now() > deadline, {
    description: "the caller's deadline to pass",
    timeoutMs: 5000,
  });
  const back = await startPerformerServer({ port, host: '127.0.0.1' });
  t.after(() => back.kill());
  const err = await outcome;
  assert.ok(err instanceof PerformerUnavailableError, `expected unavailable, got ${JSON.stringify(err)}`);
  assert.equal(back.tasksReceived, 0, 'the task never reached the performer');
});

test("tries cut short by the caller's own deadline do not open the breaker on a performer that answers", async (t) => {
  const slow = await startPerformerServer({ port: 0, host: '127.0.0.1', behaviour: 'delay', delayMs: 1000 });
  t.after(() => slow.kill());
  const client = new PerformerClient(`127.0.0.1:${slow.port}`, {
    retry: fast,
    circuitBreaker: { failureThreshold: 1, openMs: 60_000 },
  });
  t.after(() => client.close());
  // Impatient callers: each gives up before the task is done, well inside the try's own deadline.
  for (const taskId of ['hasty-1', 'hasty-2', 'hasty-3']) {
    const err = await client
      .executeTask({ taskId, payload: 'x' }, { deadline: Date.now() + 100 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof PerformerUnavailableError, String(err));
  }
  assert.equal(client.breaker.state, 'closed', 'the performer was not at fault');
  // So a caller that waits is served, rather than refused for openMs.
  const res = await client.executeTask({ taskId: 'patient', payload: 'served' });
  assert.equal(res.result.toString(), 'served');
});
