import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { ensureBinaries } from '../../../src/cluster/binaries.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import {
  Deployments,
  Jobs,
  Pods,
  Roles,
  ServiceAccounts,
  Services,
} from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { canServiceAccount } from '../../../src/sandbox/verify.js';
import { testClient, testKubeconfig, testNamespace, twoContextKubeconfig } from '../../support/cluster.js';
import { consumerProject } from '../../unit/sandbox/consumer.js';
import { applyRbac, asApp, sandboxNamespace, workdir } from './support.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const CHART = join(ROOT, 'chart');

/** Runs a command to its end; resolves with its exit code and output (a non-zero exit is not an error). */
function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, KUBECONFIG: testKubeconfig(), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const tutti = (...args: string[]) => sh(process.execPath, [join(ROOT, 'bin/tutti.js'), ...args]);

async function runningPods(client: KubeClient, ns: string, selector: string, count: number): Promise<Pod[]> {
  return waitFor(
    async () => {
      const pods = (await client.list(Pods, { namespace: ns, labelSelector: selector })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      return pods.length === count && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    },
    { description: `${count} Running pods with ${selector} in ${ns}`, timeoutMs: 60_000 },
  );
}

describe('ci-fixer deployment', () => {
  test('the Helm chart lints, installs, upgrades, rolls back and uninstalls with its pods Running', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client, 'helm');
    const { helm } = await ensureBinaries(['helm']);
    const h = async (...args: string[]) => {
      const r = await sh(helm, args);
      assert.equal(r.code, 0, `helm ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await h('lint', CHART);
    await h('lint', CHART, '-f', join(CHART, 'values-prod.yaml'));

    await h('install', 'ci-fixer', CHART, '-n', ns, '--wait', '--timeout', '60s');
    const selector = 'app.kubernetes.io/instance=ci-fixer';
    const [pod] = await runningPods(client, ns, selector, 1);
    assert.equal(pod?.metadata?.labels?.['app'], 'ci-fixer');
    assert.equal(pod?.spec?.serviceAccountName, 'ci-fixer-app');
    assert.deepEqual(pod?.spec?.containers[0]?.resources, {
      limits: { cpu: '500m', memory: '512Mi' },
      requests: { cpu: '250m', memory: '256Mi' },
    });
    assert.equal(pod?.spec?.containers[0]?.ports?.[0]?.containerPort, 3001);
    // The service learns its own Pod, which then owns its sandbox Jobs.
    const fieldOf = (name: string) =>
      pod?.spec?.containers[0]?.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.deepEqual([fieldOf('POD_NAME'), fieldOf('POD_UID')], ['metadata.name', 'metadata.uid']);
    const envOf = (name: string) => pod?.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;
    assert.equal(envOf('SANDBOX_STARTUP_TIMEOUT'), '2m');
    // What the service keeps of runs is bounded, well inside its memory limit.
    assert.deepEqual(['RUN_HISTORY', 'RUN_HISTORY_BYTES', 'RUN_OUTPUT_BYTES'].map(envOf), [
      '200',
      '64Mi',
      '16Mi',
    ]);
    // Running runs may finish on SIGTERM for as long as one command may take.
    assert.equal(pod?.spec?.terminationGracePeriodSeconds, 600);
    // The chart's RBAC passes the seed's verification.
    const verified = await tutti('sandbox', 'verify', '-n', ns);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    // Its Role grants exactly what the service calls: a sandbox runs as ci-fixer-app, and nothing
    // else of jobs and pods is allowed.
    const { KubernetesSandbox } = await import('../../../src/sandbox/index.js');
    const sandbox = new KubernetesSandbox('busybox', ns, {
      client: asApp(client, ns),
      workdir: await workdir(),
    });
    await sandbox.init();
    assert.equal((await sandbox.runCommand('echo as-ci-fixer-app')).stdout, 'as-ci-fixer-app\n');
    await sandbox.teardown();
    const granted: string[] = [];
    for (const [group, resource, subresource] of [
      ['batch', 'jobs', ''],
      ['', 'pods', ''],
      ['', 'pods', 'exec'],
      ['', 'pods', 'log'],
    ]) {
      for (const verb of [
        'get',
        'list',
        'watch',
        'create',
        'update',
        'patch',
        'delete',
        'deletecollection',
      ]) {
        const attributes = { group, resource, subresource, verb, namespace: ns };
        if (await canServiceAccount(client, ns, 'ci-fixer-app', attributes)) {
          granted.push(`${verb} ${resource}${subresource ? `/${subresource}` : ''}`);
        }
      }
    }
    assert.deepEqual(granted, [
      'get jobs',
      'list jobs',
      'create jobs',
      'delete jobs',
      'list pods',
      'watch pods',
      'get pods/exec',
      'create pods/exec',
    ]);

    await h(
      'upgrade',
      'ci-fixer',
      CHART,
      '-n',
      ns,
      '-f',
      join(CHART, 'values-prod.yaml'),
      '--set',
      'gpu.enabled=true',
    );
    await runningPods(client, ns, selector, 2);
    const upgraded = await client.get(Deployments, 'ci-fixer-app', ns);
    const env = upgraded.spec?.template.spec?.containers[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'SANDBOX_GPUS')?.value, '1');
    assert.equal(env.find((e) => e.name === 'SANDBOX_MEMORY_LIMIT')?.value, '2Gi');
    // Two replicas, each holding its own runs, and either answers for all of them: no affinity
    // needed, so new runs spread over both.
    assert.equal((await client.get(Services, 'ci-fixer-app', ns)).spec?.sessionAffinity, 'None');
    assert.match(await h('history', 'ci-fixer', '-n', ns), /2\s.*deployed/);

    await h('rollback', 'ci-fixer', '1', '-n', ns, '--wait', '--timeout', '60s');
    const rolledBack = await client.get(Deployments, 'ci-fixer-app', ns);
    assert.equal(rolledBack.spec?.replicas, 1);
    assert.equal(
      rolledBack.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'SANDBOX_GPUS'),
      undefined,
    );
    await runningPods(client, ns, selector, 1);

    await h('uninstall', 'ci-fixer', '-n', ns, '--wait');
    assert.equal(await client.find(Deployments, 'ci-fixer-app', ns), undefined);
    assert.equal(await client.find(Roles, 'ci-fixer-sandbox-manager', ns), undefined);
    assert.equal(await client.find(ServiceAccounts, 'ci-fixer-app', ns), undefined);
  });

  test('k8s/deployment/deployment.yaml runs the app with the seed labels, port and resources', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client, 'deploy');
    for (const file of ['k8s/rbac/k8s.yaml', 'k8s/deployment/deployment.yaml']) {
      const moved = (await readFile(join(ROOT, file), 'utf8')).replaceAll(
        'namespace: default',
        `namespace: ${ns}`,
      );
      const path = join(tmpdir(), `${ns}-${file.replaceAll('/', '-')}`);
      await writeFile(path, moved);
      const r = await sh('kubectl', ['apply', '-f', path]);
      assert.equal(r.code, 0, r.stderr);
    }
    const [pod] = await runningPods(client, ns, 'app=ci-fixer', 1);
    const container = pod?.spec?.containers[0];
    assert.equal(container?.ports?.[0]?.containerPort, 3001);
    assert.equal(container?.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(container?.livenessProbe?.httpGet?.path, '/healthz');
    assert.deepEqual(container?.resources?.requests, { cpu: '250m', memory: '256Mi' });
    const fieldRef = (name: string) =>
      container?.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.deepEqual([fieldRef('POD_NAME'), fieldRef('POD_UID')], ['metadata.name', 'metadata.uid']);
    const svc = await sh('kubectl', [
      'get',
      'service',
      'ci-fixer-app',
      '-n',
      ns,
      '-o',
      'jsonpath={.spec.ports[0].targetPort}',
    ]);
    assert.equal(svc.stdout, 'http');
  });

  test('RBAC: ci-fixer-app can run sandboxes in its namespace and nowhere else; verify reports ❌', async (t) => {
    const client = await testClient(t);
    const { ns, app } = await sandboxNamespace(t, client);
    const other = await testNamespace(t, client, 'other');
    const as = `--as=system:serviceaccount:${ns}:ci-fixer-app`;
    assert.equal(
      (await sh('kubectl', ['auth', 'can-i', 'create', 'jobs', as, '-n', ns])).stdout.trim(),
      'yes',
    );
    assert.equal((await sh('kubectl', ['auth', 'can-i', 'delete', 'nodes', as])).stdout.trim(), 'no');
    assert.equal(
      (await sh('kubectl', ['auth', 'can-i', 'create', 'jobs', as, '-n', other])).stdout.trim(),
      'no',
    );

    // The library, acting as ci-fixer-app, is refused outside its namespace, with the reason.
    const { KubernetesSandbox } = await import('../../../src/sandbox/index.js');
    await assert.rejects(
      new KubernetesSandbox('busybox', other, { client: app }).init(),
      /could not create its Job: .*forbidden/i,
    );

    const ok = await tutti('sandbox', 'verify', '-n', ns, '--other-namespace', other);
    assert.equal(ok.code, 0, ok.stdout);
    assert.doesNotMatch(ok.stdout, /❌/);

    // Over-broad: the Role also reads Secrets. Missing: a namespace without the manifests.
    await client.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'ci-fixer-sandbox-manager', namespace: ns },
      rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
    });
    const broad = await tutti('sandbox', 'verify', '-n', ns);
    assert.equal(broad.code, 1);
    assert.match(
      broad.stdout,
      /❌ ci-fixer-app cannot get secrets in namespace \S+: allowed, but must not be/,
    );
    const missing = await tutti('sandbox', 'verify', '-n', other);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /❌ ServiceAccount ci-fixer-app exists in \S+: not found/);
    assert.match(missing.stdout, /❌ ci-fixer-app can create jobs in namespace \S+: denied/);
  });

  test('verify fails a Role that lacks a permission the sandbox or the service uses, naming it', async (t) => {
    const client = await testClient(t);
    const { ns } = await sandboxNamespace(t, client);
    // Enough to create a Job and exec into its Pod, but teardown could not see the Job or its
    // Pods go, and the service could not find its leftovers or its replicas.
    await client.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'ci-fixer-sandbox-manager', namespace: ns },
      rules: [
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'delete'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['watch'] },
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create'] },
      ],
    });
    await waitFor(
      async () =>
        !(await canServiceAccount(client, ns, 'ci-fixer-app', {
          verb: 'list',
          resource: 'pods',
          namespace: ns,
        })),
      { description: 'the narrowed Role to be in force', timeoutMs: 15_000 },
    );
    const verified = await tutti('sandbox', 'verify', '-n', ns);
    assert.equal(verified.code, 1, verified.stdout + verified.stderr);
    const failed = verified.stdout.split('\n').filter((l) => l.startsWith('❌ ci-fixer-app'));
    assert.deepEqual(
      failed.map(
        (l) => /^❌ ci-fixer-app can (\w+ \w+) in namespace \S+: denied \(needed: .+\)$/.exec(l)?.[1] ?? l,
      ),
      ['get jobs', 'list jobs', 'list pods'],
    );
    assert.match(verified.stdout, /✅ ci-fixer-app can watch pods in namespace/);
    assert.match(verified.stdout, /❌ 3 of \d+ checks failed/);
  });

  test("the seed's scripts run as written: test-k8s-sandbox.ts and verify-k8s-deployment.ts", async (t) => {
    const client = await testClient(t);
    await applyRbac(client, 'default');
    const tsx = join(ROOT, 'node_modules/.bin/tsx');
    const verified = await sh(tsx, ['scripts/verify-k8s-deployment.ts']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /✅ All \d+ checks passed/);

    const r = await sh(tsx, ['scripts/test-k8s-sandbox.ts']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /✅ Job created successfully\n✅ Command executed: Hello from K8s sandbox!\n\n✅ Job deleted successfully/,
    );

    // A library user's copy of the script, with only its import path changed, in their project.
    const project = await consumerProject();
    const seedScript = await readFile(join(ROOT, 'scripts/test-k8s-sandbox.ts'), 'utf8');
    const asUser = seedScript.replace("from '../src/sandbox/index.js'", "from 'tutti/sandbox'");
    assert.notEqual(asUser, seedScript);
    await writeFile(join(project, 'test-k8s-sandbox.ts'), asUser);
    const user = await sh(tsx, [join(project, 'test-k8s-sandbox.ts')], {}, project);
    assert.equal(user.code, 0, user.stdout + user.stderr);
    assert.match(user.stdout, /✅ Command executed: Hello from K8s sandbox!\n\n✅ Job deleted successfully/);

    const left = await client.list(Jobs, { namespace: 'default', labelSelector: 'app=ci-fixer-sandbox' });
    assert.equal(left.items.length, 0);
    t.after(async () => {
      await run('kubectl', ['delete', '-f', join(ROOT, 'k8s/rbac/k8s.yaml'), '--ignore-not-found'], {
        env: { ...process.env, KUBECONFIG: testKubeconfig() },
      });
    });
  });

  test('sandboxes left open are torn down when their process exits, ends or is signalled', async (t) => {
    const client = await testClient(t);
    const { ns } = await sandboxNamespace(t, client);
    // The last case reaches the cluster through a context other than the current one, which the
    // reaper, a process of its own, must use too.
    const kubeconfig = await twoContextKubeconfig(t);
    const script = (ending: string, options = {}) => `
      import { KubernetesSandbox } from ${JSON.stringify(join(ROOT, 'src/sandbox/index.ts'))};
      const s = new KubernetesSandbox('busybox', ${JSON.stringify(ns)}, ${JSON.stringify(options)});
      await s.init();
      console.log(s.jobName);
      ${ending}
    `;
    const endings: Record<string, string> = {
      'process.exit()': script('process.exit(0);'),
      'end of the program': script(''),
      SIGTERM: script(
        "process.kill(process.pid, 'SIGTERM'); await new Promise((r) => setTimeout(r, 60_000));",
      ),
      'process.exit() with a kubeconfig context': script('process.exit(0);', {
        kubeconfig,
        context: 'plane',
      }),
    };
    for (const [how, code] of Object.entries(endings)) {
      const path = join(tmpdir(), `${ns}-exit-${how.replace(/\W/g, '')}.mts`);
      await writeFile(path, code);
      const r = await sh(process.execPath, ['--import', 'tsx', path], {
        NODE_PATH: join(ROOT, 'node_modules'),
      });
      const jobName = r.stdout.trim();
      assert.match(jobName, /^ci-fixer-sandbox-[0-9a-f]{8}$/, `${how}: ${r.stderr}`);
      await waitFor(
        async () =>
          !(await client.find(Jobs, jobName, ns)) &&
          (await client.list(Pods, { namespace: ns, labelSelector: `job-name=${jobName}` })).items.length ===
            0,
        { description: `the sandbox of a process ended by ${how} to be torn down`, timeoutMs: 60_000 },
      );
    }
  });
});
