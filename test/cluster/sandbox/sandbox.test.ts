import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Jobs, Pods } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { LEFTOVERS_STOPPED } from '../../../src/sandbox/command.js';
import { openSandboxCount } from '../../../src/sandbox/exit-teardown.js';
import {
  KubernetesSandbox,
  SandboxFileError,
  SandboxStartError,
  SandboxStateError,
} from '../../../src/sandbox/index.js';
import { testClient, testKubeconfig } from '../../support/cluster.js';
import { proxiedKubeconfig } from '../../support/tcp-proxy.js';
import { ackedLinesScript, asApp, sandboxNamespace, workdir } from './support.js';

const IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';

/** Whether the plane's kubelet simulation fails this image's pull (a plane started before it did not). */
async function simulatesPullFailures(client: KubeClient, ns: string, image: string): Promise<boolean> {
  const name = 'pull-probe';
  await client.create<Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  });
  const state = await waitFor(
    async () => {
      const pod = await client.get(Pods, name, ns);
      if (pod.status?.phase === 'Running') return 'running';
      // As with a kubelet: ErrImagePull first, then ImagePullBackOff.
      return pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff'
        ? 'backoff'
        : undefined;
    },
    { description: `probe pod with image ${image} to run or reach ImagePullBackOff`, timeoutMs: 30_000 },
  );
  await client.delete(Pods, name, ns);
  return state === 'backoff';
}

/** A started sandbox in a namespace of the test's own, working in a fresh directory; torn down after the test. */
async function startedSandbox(t: TestContext) {
  const client = await testClient(t);
  const { ns, app } = await sandboxNamespace(t, client);
  const dir = await workdir();
  const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, workdir: dir });
  t.after(() => sandbox.teardown());
  await sandbox.init();
  return { client, ns, sandbox, dir };
}

describe('KubernetesSandbox', () => {
  test('init creates the seed Job and a Running pod; commands return stdout, stderr and exit codes', async (t) => {
    const { client, ns, sandbox } = await startedSandbox(t);

    const job = await client.get(Jobs, sandbox.jobName, ns);
    assert.equal(job.metadata?.labels?.['app'], 'ci-fixer-sandbox');
    assert.equal(job.spec?.ttlSecondsAfterFinished, 300);
    assert.equal(job.spec?.backoffLimit, 0);
    const pod = await client.get(Pods, sandbox.podName!, ns);
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.spec?.serviceAccountName, 'ci-fixer-sandbox');
    assert.equal(pod.spec?.automountServiceAccountToken, false);

    const hello = await sandbox.runCommand('echo "Hello from K8s sandbox!"');
    assert.deepEqual(hello, {
      stdout: 'Hello from K8s sandbox!\n',
      stderr: '',
      exitCode: 0,
      timedOut: false,
      truncated: false,
    });
    const failing = await sandbox.runCommand('echo out; echo err >&2; exit 7');
    assert.equal(failing.stdout, 'out\n');
    assert.equal(failing.stderr, 'err\n');
    assert.equal(failing.exitCode, 7);

    const dir = await workdir();
    const withOptions = await sandbox.runCommand('pwd; echo "$NAME"; tr a-z A-Z', {
      cwd: dir,
      env: { NAME: 'sandbox' },
      stdin: 'from stdin',
    });
    assert.equal(withOptions.stdout, `${dir}\nsandbox\nFROM STDIN`);

    // The Pod stays Running between commands: the simulated kubelet does not complete it.
    assert.equal((await client.get(Pods, sandbox.podName!, ns)).status?.phase, 'Running');
  });

  test('a command that outlives its timeout is stopped, with its children, and reported', async (t) => {
    const { sandbox, dir } = await startedSandbox(t);
    const live = { stdout: '', stderr: '' };
    const r = await sandbox.runCommand('echo started; sleep 300 & echo $! > child.pid; wait', {
      cwd: dir,
      timeoutMs: 1000,
      onOutput: (stream, text) => {
        live[stream] += text;
      },
    });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, 124);
    assert.equal(r.stdout, 'started\n');
    assert.match(r.stderr, /timed out after 1000 ms/);
    assert.deepEqual(live, { stdout: r.stdout, stderr: r.stderr }, 'the timeout note is streamed too');
    const pid = (await sandbox.readFile(`${dir}/child.pid`)).trim();
    await waitFor(async () => (await sandbox.runCommand(`kill -0 ${pid}`)).exitCode !== 0, {
      description: `the background sleep (pid ${pid}) to be gone`,
      timeoutMs: 15_000,
    });
  });

  test('a command that leaves a process holding its output ends with its exit code, and the process is stopped', async (t) => {
    const { sandbox, dir } = await startedSandbox(t);
    // As `server & npm test`: the server would run a minute, past the command's timeout.
    const r = await sandbox.runCommand(
      'i=0; while [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done & echo $! > server.pid; echo tests passed',
      { cwd: dir, timeoutMs: 20_000 },
    );
    assert.deepEqual(r, {
      stdout: 'tests passed\n',
      stderr: `${LEFTOVERS_STOPPED}\n`,
      exitCode: 0,
      timedOut: false,
      truncated: false,
    });
    const pid = (await sandbox.readFile('server.pid')).trim();
    // Killed, it may linger a moment as a zombie until its new parent reaps it.
    await waitFor(async () => (await sandbox.runCommand(`kill -0 ${pid}`)).exitCode !== 0, {
      description: `the left-over process ${pid} to be gone`,
      timeoutMs: 15_000,
    });
  });

  test('onOutput gets each line while the command still runs', async (t) => {
    const { sandbox, dir } = await startedSandbox(t);
    // Each line waits for a file the test writes only after the previous line reached it, so
    // the command can only finish if every line was delivered before it ended.
    const script = `${ackedLinesScript(dir)}; echo finished`;
    const seen: string[] = [];
    const r = await sandbox.runCommand(script, {
      cwd: dir,
      onOutput: (stream, text) => {
        for (const line of text.split('\n').filter(Boolean)) {
          seen.push(`${stream}: ${line}`);
          const n = /^line (\d)$/.exec(line)?.[1];
          if (n) void writeFile(join(dir, `ack-${n}`), '');
        }
      },
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(seen, ['stdout: line 1', 'stdout: line 2', 'stdout: line 3', 'stdout: finished']);
    assert.equal(r.stdout, 'line 1\nline 2\nline 3\nfinished\n');
  });

  test('output beyond the cap is cut with a marker', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, maxOutputBytes: 1000 });
    t.after(() => sandbox.teardown());
    await sandbox.init();
    let streamed = '';
    const r = await sandbox.runCommand('head -c 5000 /dev/zero | tr "\\0" x; echo done >&2', {
      onOutput: (stream, text) => {
        if (stream === 'stdout') streamed += text;
      },
    });
    assert.equal(streamed, r.stdout, 'the streamed pieces, marker included, add up to stdout');
    assert.equal(r.truncated, true);
    assert.ok(r.stdout.startsWith('x'.repeat(1000)));
    assert.match(r.stdout, /\[output truncated: only the first 1000 bytes were kept\]/);
    assert.equal(r.stderr, 'done\n');
  });

  test('writeFile and readFile move text and binary files through tar', async (t) => {
    const { sandbox, dir } = await startedSandbox(t);

    await sandbox.writeFile('src/nested/app.py', 'print("hi")\n');
    assert.equal(
      (await sandbox.runCommand('python3 src/nested/app.py || cat src/nested/app.py', { cwd: dir })).exitCode,
      0,
    );
    assert.equal(await sandbox.readFile(`${dir}/src/nested/app.py`), 'print("hi")\n');
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    await sandbox.writeFile('blob.bin', bytes);
    assert.deepEqual(await sandbox.readFileBytes('blob.bin'), bytes);
    assert.equal((await sandbox.runCommand('wc -c < blob.bin', { cwd: dir })).stdout.trim(), '70000');
    await assert.rejects(sandbox.readFile('missing.txt'), (err: Error) => {
      assert.ok(err instanceof SandboxFileError);
      assert.match(err.message, /missing\.txt: no such file/);
      return true;
    });
    await assert.rejects(
      sandbox.readFile('src/nested'),
      /readFile \S+\/src\/nested: a directory, not a file/,
    );
  });

  test('readFile follows a symbolic link to its file, and a tar that fails is reported, not read as a file', async (t) => {
    const { sandbox, dir } = await startedSandbox(t);
    await sandbox.writeFile('node_modules/typescript/bin/tsc', '#!/usr/bin/env node\n', { mode: 0o755 });
    const linked = await sandbox.runCommand(
      'mkdir -p node_modules/.bin && ln -s ../typescript/bin/tsc node_modules/.bin/tsc',
      { cwd: dir },
    );
    assert.equal(linked.exitCode, 0, linked.stderr);
    assert.equal(await sandbox.readFile('node_modules/.bin/tsc'), '#!/usr/bin/env node\n');
    assert.deepEqual(
      await sandbox.readFileBytes(`${dir}/node_modules/.bin/tsc`),
      Buffer.from('#!/usr/bin/env node\n'),
    );
    await sandbox.runCommand('ln -s missing dangling', { cwd: dir });
    await assert.rejects(sandbox.readFile('dangling'), /readFile \S+\/dangling: no such file/);

    // A sysfs file claims 4096 bytes and holds fewer: tar fails on it ("File shrank").
    const sysfs = '/sys/devices/system/cpu/online';
    if ((await sandbox.runCommand(`[ -f ${sysfs} ]`)).exitCode !== 0) {
      t.skip(`${sysfs} is not on this machine, where the plane's exec runs commands`);
      return;
    }
    await assert.rejects(sandbox.readFile(sysfs), (err: Error) => {
      assert.ok(err instanceof SandboxFileError, `${err.name}: ${err.message}`);
      assert.match(
        err.message,
        /^readFile \/sys\/devices\/system\/cpu\/online: tar: online: File shrank by \d+ bytes/,
      );
      return true;
    });
  });

  test('teardown deletes the Job and its Pods, is idempotent, and ends the sandbox', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app });
    await sandbox.init();
    const pod = sandbox.podName!;
    await Promise.all([sandbox.teardown(), sandbox.teardown()]);
    assert.equal(await client.find(Jobs, sandbox.jobName, ns), undefined);
    assert.equal(await client.find(Pods, pod, ns), undefined);
    await sandbox.teardown();
    await assert.rejects(sandbox.runCommand('true'), SandboxStateError);
    await assert.rejects(sandbox.init(), SandboxStateError);
    // A sandbox that never started tears down without a call to the cluster.
    await new KubernetesSandbox(IMAGE, ns, { client: app }).teardown();
  });

  test('a teardown while init() loads its client or creates the Job wins: init rejects, and no Job is left', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const loading = new KubernetesSandbox(IMAGE, ns, { kubeconfig: testKubeconfig() });
    // The client is loaded from the kubeconfig first; with a client given, the Job's create
    // request is on its way when init() returns.
    const creating = new KubernetesSandbox(IMAGE, ns, { client: app });
    for (const sandbox of [loading, creating]) {
      const started = sandbox.init();
      const tornDown = sandbox.teardown();
      await assert.rejects(started, (err: Error) => {
        assert.ok(err instanceof SandboxStateError, String(err));
        assert.match(err.message, new RegExp(`${sandbox.jobName} was torn down while it was starting`));
        return true;
      });
      await tornDown;
      assert.equal(await client.find(Jobs, sandbox.jobName, ns), undefined, `Job ${sandbox.jobName} is gone`);
      await sandbox.teardown();
      await assert.rejects(sandbox.init(), /was torn down/);
    }
    assert.deepEqual(
      (await client.list(Jobs, { namespace: ns })).items.map((j) => j.metadata?.name),
      [],
      'no Job was created after the teardown',
    );
  });

  test('a teardown the API server failed leaves the sandbox to a later teardown, which deletes its Job', async (t) => {
    const client = await testClient(t);
    const { ns } = await sandboxNamespace(t, client);
    const { proxy, kubeconfig } = await proxiedKubeconfig(t, testKubeconfig());
    const through = await KubeClient.load(kubeconfig, { fieldManager: 'tutti-test' });
    t.after(() => through.close());
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: asApp(through, ns) });
    await sandbox.init();
    proxy.cut();
    await assert.rejects(sandbox.teardown());
    assert.ok(await client.find(Jobs, sandbox.jobName, ns), 'the Job is still there');
    assert.equal(openSandboxCount(), 1, 'the sandbox is still torn down at exit');
    await assert.rejects(sandbox.runCommand('true'), SandboxStateError);
    proxy.restore();
    await sandbox.teardown();
    assert.equal(await client.find(Jobs, sandbox.jobName, ns), undefined);
    assert.equal(
      (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${sandbox.jobName}` })).items.length,
      0,
    );
    assert.equal(openSandboxCount(), 0);
  });

  test('a finished sandbox Job is removed by its TTL', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    // The Job ends at its deadline (DeadlineExceeded); the TTL controller then deletes it.
    const sandbox = new KubernetesSandbox(IMAGE, ns, {
      client: app,
      activeDeadlineSeconds: 4,
      ttlSecondsAfterFinished: 1,
    });
    t.after(() => sandbox.teardown());
    await sandbox.init();
    await waitFor(
      async () =>
        (await client.find(Jobs, sandbox.jobName, ns))?.status?.conditions?.some((c) => c.type === 'Failed'),
      { description: 'the Job to fail at its deadline', timeoutMs: 30_000 },
    );
    await waitFor(
      async () =>
        !(await client.find(Jobs, sandbox.jobName, ns)) &&
        (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${sandbox.jobName}` })).items
          .length === 0,
      { description: 'the TTL controller to delete the finished Job and its Pods', timeoutMs: 60_000 },
    );
  });

  test('an unschedulable sandbox is refused with the reason and leaves nothing behind', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandbox = new KubernetesSandbox(IMAGE, ns, {
      client: app,
      resources: { requests: { cpu: '1000' } },
    });
    await assert.rejects(sandbox.init(), (err: Error) => {
      assert.ok(err instanceof SandboxStartError, String(err));
      assert.match(err.message, /cannot be scheduled: .*Insufficient cpu/);
      return true;
    });
    assert.equal((await client.list(Jobs, { namespace: ns })).items.length, 0);
    assert.equal((await client.list(Pods, { namespace: ns })).items.length, 0);
  });

  test('an image that cannot be pulled is refused with ErrImagePull and leaves nothing behind', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    // The local plane's simulated kubelet fails pulls from registries under .invalid (kwok.yaml).
    const image = 'registry.invalid/no-such/image:1.0';
    if (!(await simulatesPullFailures(client, ns, image))) {
      t.skip('this control plane started before kwok.yaml simulated image pull failures; restart it');
      return;
    }
    const sandbox = new KubernetesSandbox(image, ns, { client: app });
    await assert.rejects(sandbox.init(), (err: Error) => {
      assert.ok(err instanceof SandboxStartError, String(err));
      assert.match(
        err.message,
        /container sandbox \(image registry\.invalid\/no-such\/image:1\.0\): (ErrImagePull|ImagePullBackOff): .*no such host/,
      );
      return true;
    });
    assert.equal(await client.find(Jobs, sandbox.jobName, ns), undefined);
    assert.equal(
      (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${sandbox.jobName}` })).items.length,
      0,
    );
  });

  test('without the sandbox ServiceAccount, init times out naming what is missing', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandbox = new KubernetesSandbox(IMAGE, ns, {
      client: app,
      serviceAccountName: 'no-such-account',
      startupTimeoutMs: 3000,
    });
    await assert.rejects(sandbox.init(), /created no Pod \(does ServiceAccount no-such-account exist/);
    assert.equal(await client.find(Jobs, sandbox.jobName, ns), undefined);
  });

  test('a GPU sandbox lands on the GPU node', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandbox = new KubernetesSandbox(IMAGE, ns, { client: app, gpus: 1 });
    t.after(() => sandbox.teardown());
    await sandbox.init();
    assert.equal((await client.get(Pods, sandbox.podName!, ns)).spec?.nodeName, 'tutti-gpu-0');
  });

  test('10 sandboxes at once each run their own command', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const sandboxes = Array.from({ length: 10 }, () => new KubernetesSandbox(IMAGE, ns, { client: app }));
    t.after(() => Promise.all(sandboxes.map((s) => s.teardown())));
    const outputs = await Promise.all(
      sandboxes.map(async (s, i) => {
        await s.init();
        return (await s.runCommand(`echo sandbox-${i}`)).stdout;
      }),
    );
    assert.deepEqual(
      outputs,
      sandboxes.map((_, i) => `sandbox-${i}\n`),
    );
    assert.equal(new Set(sandboxes.map((s) => s.podName)).size, 10);
    await Promise.all(sandboxes.map((s) => s.teardown()));
    assert.equal(
      (await client.list(Jobs, { namespace: ns, labelSelector: 'app=ci-fixer-sandbox' })).items.length,
      0,
    );
  });
});
