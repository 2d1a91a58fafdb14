import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Jobs, Nodes, Pods } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { SandboxLostError, SandboxStartError } from '../../../src/sandbox/errors.js';
import { KubernetesSandbox } from '../../../src/sandbox/index.js';
import type { Run, RunEvent } from '../../../src/sandbox/service/runs.js';
import { testClient } from '../../support/cluster.js';
import { runEvents, sandboxNamespace, startService, workdir } from './support.js';

const IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';

/**
 * A command that prints `started` and then waits for the file `release` in `dir`: it cannot end
 * on its own while the test takes the pod away (the simulated kubelet's exec runs it on this
 * machine, so it outlives the pod unless the sandbox stops it). Gives up after `seconds`.
 */
function blockingCommand(dir: string, seconds = 30): string {
  return `echo started; i=0; while [ ! -f "${dir}/release" ] && [ $i -lt ${seconds * 20} ]; do i=$((i+1)); sleep 0.05; done; echo finished`;
}

/** Starts the blocking command and resolves once it printed `started`, with its outcome. */
async function startBlocking(
  sandbox: KubernetesSandbox,
  dir: string,
  seconds?: number,
): Promise<{ outcome: Promise<unknown>; release: () => Promise<void> }> {
  let started!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const outcome = sandbox.runCommand(blockingCommand(dir, seconds), {
    onOutput: (_stream, text) => {
      if (text.includes('started')) started();
    },
  });
  outcome.catch(() => {});
  await Promise.race([running, outcome]);
  return { outcome, release: () => writeFile(join(dir, 'release'), '') };
}

async function evict(client: KubeClient, ns: string, pod: string): Promise<void> {
  await client.transport.json({
    method: 'POST',
    path: await client.path(Pods, ns, pod, 'eviction'),
    body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns } },
  });
}

async function assertGone(client: KubeClient, ns: string, job: string): Promise<void> {
  assert.equal(await client.find(Jobs, job, ns), undefined, 'the Job is deleted');
  assert.equal(
    (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${job}` })).items.length,
    0,
    'no Pod of the Job is left',
  );
}

/**
 * A node for one test, once it is schedulable (a new node starts tainted not-ready). `kwok`: the
 * simulated kubelet runs its Pods; without, nothing does, and its Pods stay Pending.
 */
async function testNode(t: TestContext, client: KubeClient, prefix: string, kwok: boolean): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const capacity = { cpu: '8', memory: '16Gi', pods: '110' };
  const now = new Date().toISOString();
  await client.create<Node>({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
      ...(kwok ? { annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' } } : {}),
    },
    status: {
      capacity,
      allocatable: capacity,
      ...(kwok
        ? {}
        : {
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          }),
    },
  });
  t.after(() => client.delete(Nodes, name).then(() => {}));
  await waitFor(async () => ((await client.get(Nodes, name)).spec?.taints ?? []).length === 0, {
    description: `node ${name} to lose its not-ready taint`,
    timeoutMs: 30_000,
  });
  // The scheduler learns of the node from its own watch, which may lag: a sandbox whose Pod it
  // found no node for would fail at once. A probe Pod placed there shows the scheduler has it.
  const probe = await client.create<Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: `${name}-probe-`, namespace: 'default' },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': name },
      containers: [{ name: 'probe', image: 'probe' }],
    },
  });
  await waitFor(
    async () => (await client.get(Pods, probe.metadata!.name!, 'default')).spec?.nodeName === name,
    {
      description: `the scheduler to place a Pod on node ${name}`,
      timeoutMs: 30_000,
    },
  );
  await client.delete(Pods, probe.metadata!.name!, 'default', { gracePeriodSeconds: 0 });
  return name;
}

async function lostSandbox(t: TestContext) {
  const client = await testClient(t);
  const { ns, app } = await sandboxNamespace(t, client);
  const dir = await workdir();
  return { client, ns, app, dir };
}

describe('a sandbox whose Pod is lost mid-command', () => {
  for (const how of ['evicted', 'deleted'] as const) {
    test(`the Pod ${how}: the command ends with an error naming it, later calls fail the same, the Job goes`, async (t) => {
      const { client, ns, app, dir } = await lostSandbox(t);
      const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, workdir: dir });
      t.after(() => sandbox.teardown());
      await sandbox.init();
      const pod = sandbox.podName!;
      await sandbox.writeFile('state.txt', 'written before the loss');
      const { outcome, release } = await startBlocking(sandbox, dir);
      t.after(release);

      if (how === 'evicted') await evict(client, ns, pod);
      else await client.delete(Pods, pod, ns);

      // The command is still blocked: it can only end because the sandbox saw its Pod go.
      await assert.rejects(outcome, (err: Error) => {
        assert.ok(err instanceof SandboxLostError, `${err.name}: ${err.message}`);
        assert.match(err.message, new RegExp(`pod ${pod} \\(node [^)]+\\) was ${how}`));
        assert.match(err.message, /the sandbox is unusable/);
        return true;
      });
      // No later command runs in a replacement Pod without the earlier files: each says why.
      for (const call of [sandbox.runCommand('cat state.txt'), sandbox.readFile('state.txt')]) {
        await assert.rejects(call, (err: Error) => {
          assert.ok(err instanceof SandboxLostError);
          assert.match(err.message, new RegExp(`unusable: pod ${pod} .*was ${how}`));
          return true;
        });
      }
      // The loss started the teardown; teardown() awaits it.
      await sandbox.teardown();
      await assertGone(client, ns, sandbox.jobName);
    });
  }

  test('a Pod evicted while it starts: init fails at once naming it and leaves nothing behind', async (t) => {
    const { client, ns, app } = await lostSandbox(t);
    // A node no kubelet runs (kwok leaves it alone): its Pods stay Pending, as during a long pull.
    const name = await testNode(t, client, 'sandbox-nokubelet', false);
    const sandbox = new KubernetesSandbox(IMAGE, ns, {
      client: app,
      nodeSelector: { 'kubernetes.io/hostname': name },
      startupTimeoutMs: 60_000,
    });
    t.after(() => sandbox.teardown());
    const started = sandbox.init();
    started.catch(() => {});
    const selector = `job-name=${sandbox.jobName}`;
    const pod = await waitFor(
      async () => {
        const [p] = (await client.list(Pods, { namespace: ns, labelSelector: selector })).items;
        return p?.spec?.nodeName ? p.metadata!.name! : undefined;
      },
      { description: 'the sandbox Pod to be bound to its node', timeoutMs: 30_000 },
    );
    assert.equal((await client.get(Pods, pod, ns)).status?.phase, 'Pending');
    await evict(client, ns, pod);
    // With no kubelet to confirm it, the deletion is finished by hand, as for a dead node.
    await client.delete(Pods, pod, ns, { gracePeriodSeconds: 0 });

    await assert.rejects(started, (err: Error) => {
      assert.ok(err instanceof SandboxStartError, `${err.name}: ${err.message}`);
      assert.match(
        err.message,
        new RegExp(`pod ${pod} \\(node ${name}\\) was evicted.* before it was Running`),
      );
      return true;
    });
    await assertGone(client, ns, sandbox.jobName);
  });

  test("the sandbox's deadline passing: the command ends with an error naming the deadline, not a deletion", async (t) => {
    const { app, client, ns, dir } = await lostSandbox(t);
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, workdir: dir, activeDeadlineSeconds: 3 });
    t.after(() => sandbox.teardown());
    await sandbox.init();
    const pod = sandbox.podName!;
    // It would run a minute: the Job controller ends the Pod at the deadline first.
    const { outcome, release } = await startBlocking(sandbox, dir, 60);
    t.after(release);
    const deadline = new RegExp(
      `the sandbox's deadline passed \\(activeDeadlineSeconds 3; the service's --sandbox-deadline\\): job ${sandbox.jobName} finished \\(Failed: DeadlineExceeded, [^)]+\\), so pod ${pod}`,
    );
    await assert.rejects(outcome, (err: Error) => {
      assert.ok(err instanceof SandboxLostError, `${err.name}: ${err.message}`);
      assert.match(err.message, deadline);
      assert.match(err.reason, deadline);
      return true;
    });
    await assert.rejects(sandbox.runCommand('true'), deadline);
    await sandbox.teardown();
    await assertGone(client, ns, sandbox.jobName);
  });

  test('teardown() while a command runs ends the command with an error saying so', async (t) => {
    const { app, client, ns, dir } = await lostSandbox(t);
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, workdir: dir });
    t.after(() => sandbox.teardown());
    await sandbox.init();
    const { outcome, release } = await startBlocking(sandbox, dir);
    t.after(release);
    await sandbox.teardown();
    await assert.rejects(outcome, /was torn down while the command ran/);
    await assertGone(client, ns, sandbox.jobName);
  });

  for (const how of ['tainted', 'deleted'] as const) {
    const what =
      how === 'tainted'
        ? 'was deleted for a NoExecute taint of its node'
        : 'was deleted by the garbage collector \\(its node is gone\\)';
    test(`its node ${how === 'tainted' ? 'tainted NoExecute' : 'deleted'}: the Pod is removed, and the command says so`, async (t) => {
      const { client, ns, app, dir } = await lostSandbox(t);
      const name = await testNode(t, client, 'sandbox-loss', true);
      const sandbox = new KubernetesSandbox(IMAGE, ns, {
        client: app,
        workdir: dir,
        nodeSelector: { 'kubernetes.io/hostname': name },
      });
      t.after(() => sandbox.teardown());
      await sandbox.init();
      // The garbage collector deletes the Pods of a deleted node after a quarantine of 40 s.
      const { outcome, release } = await startBlocking(sandbox, dir, 120);
      t.after(release);

      if (how === 'tainted') {
        await client.patch(Nodes, name, undefined, {
          spec: { taints: [{ key: 'example.com/retired', effect: 'NoExecute' }] },
        });
      } else await client.delete(Nodes, name);

      await assert.rejects(outcome, (err: Error) => {
        assert.ok(err instanceof SandboxLostError, `${err.name}: ${err.message}`);
        assert.match(err.message, new RegExp(`\\(node ${name}\\) ${what}`));
        return true;
      });
      await sandbox.teardown();
      await assertGone(client, ns, sandbox.jobName);
    });
  }

  test('the service ends the run and the step it evicted as errors naming the eviction, skips the rest and deletes the Job', async (t) => {
    const release = (dir: string) => writeFile(join(dir, 'release'), '');
    const { base, ns, client, workdir: dir } = await startService(t, {}, release);
    const res = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ commands: [blockingCommand(dir), 'echo after'], image: IMAGE }),
    });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as Run;
    let evicted: Promise<void> | undefined;
    let sandbox: string | undefined;
    const events = await runEvents(base, id, (e: RunEvent) => {
      if (e.type === 'status' && e.sandbox) sandbox = e.sandbox;
      if (e.type === 'output' && e.text.includes('started') && !evicted) {
        evicted = (async () => {
          const pods = await client.list(Pods, { namespace: ns, labelSelector: `job-name=${sandbox}` });
          await evict(client, ns, pods.items[0]!.metadata!.name!);
        })();
      }
    });
    await evicted;
    const run = (await (await fetch(`${base}/api/runs/${id}`)).json()) as Run;
    assert.equal(run.status, 'error');
    assert.match(run.error ?? '', /pod \S+ \(node [^)]+\) was evicted/);
    // The evicted step ran and printed: it ends as an error with the run's reason, not skipped.
    assert.deepEqual(
      run.steps.map((st) => [st.status, st.error]),
      [
        ['error', run.error],
        ['skipped', undefined],
      ],
    );
    assert.equal(run.steps[0]!.stdout, 'started\n');
    const stepEnds = (stream: RunEvent[]) => stream.filter((e) => e.type === 'step-end');
    assert.deepEqual(stepEnds(events), [
      { type: 'step-end', index: 0, status: 'error', error: run.error },
      { type: 'step-end', index: 1, status: 'skipped' },
    ]);
    // A subscriber after the end gets the same from the run's state.
    assert.deepEqual(stepEnds(await runEvents(base, id)), stepEnds(events));
    // The Job goes first; the garbage collector deletes its Pod after it (background deletion).
    await waitFor(
      async () =>
        !(await client.find(Jobs, sandbox!, ns)) &&
        (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${sandbox}` })).items.length === 0,
      { description: `the run's sandbox Job ${sandbox} and its Pod to be deleted`, timeoutMs: 60_000 },
    );
  });
});
