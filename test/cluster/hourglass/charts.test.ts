import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ClusterRole, ClusterRoleBinding } from 'kubernetes-types/rbac/v1.js';
import { pino } from 'pino';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { type Performer, Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { parseCommandArgs } from '../../../src/cli/command.js';
import { locateBinary } from '../../../src/cluster/binaries.js';
import { hourglassCommands } from '../../../src/hourglass/cli.js';
import { setupPerformerController } from '../../../src/hourglass/controller.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { serviceName } from '../../../src/hourglass/desired-state.js';
import { Executor } from '../../../src/hourglass/executor/executor.js';
import { parseExecutorConfig } from '../../../src/hourglass/executor/executor-config.js';
import { startPerformerServer } from '../../../src/hourglass/grpc/performer-server.js';
import { ForbiddenError } from '../../../src/runtime/client/errors.js';
import {
  ClusterRoleBindings,
  ClusterRoles,
  Events,
  Leases,
  Namespaces,
  Pods,
  Services,
  type SubjectAccessReviews,
} from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { releaseFinalizersAtEnd, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { asServiceAccount, isReady, startController } from './operator-support.js';

const run = promisify(execFile);
const chart = (name: string) => fileURLToPath(new URL(`../../../charts/${name}`, import.meta.url));

async function helm(...args: string[]): Promise<string> {
  const bin = await locateBinary('helm');
  assert.ok(bin, 'helm is built (tutti cluster build)');
  return (await run(bin, args, { maxBuffer: 16 << 20 })).stdout;
}

async function applyDryRun(manifests: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', testKubeconfig(), 'apply', '--dry-run=server', '-f', '-'],
      (err, stdout, stderr) => (err ? reject(new Error(`kubectl apply: ${stderr}`)) : resolve(stdout)),
    );
    child.stdin!.end(manifests);
  });
}

const objects = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);

test('both charts lint, and the API server accepts what they render', async (t) => {
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-chart');
  const lint = await helm('lint', chart('hourglass-operator'), chart('hourglass-executor'));
  assert.match(lint, /2 chart\(s\) linted, 0 chart\(s\) failed/);

  const operator = await helm(
    'template',
    'hourglass',
    chart('hourglass-operator'),
    '-n',
    ns,
    '--include-crds',
  );
  const executor = await helm('template', 'avs-a', chart('hourglass-executor'), '-n', ns);
  assert.match(await applyDryRun(operator), /deployment\.apps\/hourglass created \(server dry run\)/);
  const out = await applyDryRun(executor);
  assert.match(out, /statefulset\.apps\/avs-a created \(server dry run\)/);
  assert.match(out, /role\.rbac\.authorization\.k8s\.io\/avs-a created \(server dry run\)/);

  // The chart ships the CRD the types generate.
  const shipped = await readFile(
    `${chart('hourglass-operator')}/crds/hourglass.eigenlayer.io_performers.yaml`,
    'utf8',
  );
  assert.deepEqual(
    parseYaml(shipped),
    hourglassCrds()[0],
    'charts/hourglass-operator/crds is stale: copy config/crd',
  );

  // The operator: one replica with leader election, and a ClusterRole with exactly what it calls.
  const op = objects(operator);
  const deployment = op.find((o) => o.kind === 'Deployment') as {
    spec: { replicas: number; template: { spec: { containers: { command: string[]; args: string[] }[] } } };
  };
  assert.equal(deployment.spec.replicas, 1);
  // The image's entrypoint, with the Node flags the memory figures were measured with in front.
  const entrypoint = JSON.parse(
    /^FROM .* AS base$[\s\S]*?^ENTRYPOINT (.*)$/m.exec(
      await readFile(new URL('../../../Dockerfile', import.meta.url), 'utf8'),
    )![1]!,
  ) as string[];
  const node = deployment.spec.template.spec.containers[0]!.command;
  assert.deepEqual([node[0], node.at(-1)], entrypoint);
  const values = parseYaml(await readFile(`${chart('hourglass-operator')}/values.yaml`, 'utf8')) as {
    nodeFlags: string[];
  };
  assert.deepEqual(node.slice(1, -1), values.nodeFlags);
  assert.ok(deployment.spec.template.spec.containers[0]!.args.includes('--leader-elect=true'));
  const role = op.find((o) => o.kind === 'ClusterRole') as ClusterRole;
  assert.deepEqual(role.rules!.flatMap((r) => r.resources!).sort(), [
    'events',
    'leases',
    'nodes',
    'performers',
    'performers/finalizers',
    'performers/status',
    'pods',
    'services',
  ]);

  // The executor: a StatefulSet with a PVC, and a config the executor accepts, in its namespace.
  const ex = objects(executor);
  const sts = ex.find((o) => o.kind === 'StatefulSet') as {
    spec: { volumeClaimTemplates: unknown[]; template: { spec: { containers: { args: string[] }[] } } };
  };
  assert.equal(sts.spec.volumeClaimTemplates.length, 1);
  // Each chart runs a command that exists, with flags it accepts.
  const [command, ...flags] = sts.spec.template.spec.containers[0]!.args;
  const executorCmd = hourglassCommands.find((c) => c.name === command);
  assert.ok(executorCmd, `the executor chart runs "${command}", which tutti has`);
  assert.equal(parseCommandArgs(executorCmd, flags).values['data-dir'], '/var/lib/hourglass');
  const [opCommand, ...opFlags] = deployment.spec.template.spec.containers[0]!.args;
  const operatorCmd = hourglassCommands.find((c) => c.name === opCommand);
  assert.ok(operatorCmd, `the operator chart runs "${opCommand}", which tutti has`);
  assert.equal(parseCommandArgs(operatorCmd, opFlags).values['leader-election-namespace'], ns);
  assert.ok(!ex.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'));
  const cm = ex.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
  const config = parseExecutorConfig(parseYaml(cm.data['config.yaml']!));
  assert.equal(config.avsPerformers[0]?.kubernetes.namespace, ns);
});

test('the executor chart: config.grpcPort set in values is the one task port, in config, Service and Pod', async () => {
  const rendered = objects(
    await helm(
      'template',
      'avs-a',
      chart('hourglass-executor'),
      '-n',
      'avs-a',
      '--set',
      'config.grpcPort=9600',
    ),
  );
  const cm = rendered.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
  // Parsed strictly: a key written twice fails here ("Map keys must be unique").
  const config = parseExecutorConfig(parseYaml(cm.data['config.yaml']!, { uniqueKeys: true }));
  assert.equal(config.grpcPort, 9600);
  const svc = rendered.find((o) => o.kind === 'Service') as {
    spec: { ports: { name: string; port: number }[] };
  };
  assert.equal(svc.spec.ports.find((p) => p.name === 'grpc')?.port, 9600);
  const sts = rendered.find((o) => o.kind === 'StatefulSet') as {
    spec: { template: { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } };
  };
  assert.equal(
    sts.spec.template.spec.containers[0]!.ports.find((p) => p.name === 'grpc')?.containerPort,
    9600,
  );
});

const performer = (ns: string): Performer => ({
  apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
  kind: 'Performer',
  metadata: { name: 'p', namespace: ns },
  spec: { avsAddress: '0xa', image: 'img' },
});

test("an executor's Role in namespace A cannot touch Performers in namespace B", async (t) => {
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const a = await testNamespace(t, client, 'hg-a');
  const b = await testNamespace(t, client, 'hg-b');
  for (const obj of objects(await helm('template', 'exec', chart('hourglass-executor'), '-n', a)))
    if (['ServiceAccount', 'Role', 'RoleBinding'].includes(obj.kind!)) await client.create(obj);

  const user = `system:serviceaccount:${a}:exec`;
  const asExecutor = client.impersonating({
    user,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${a}`],
  });
  // RBAC is served from a cache: the first allowed call may come a moment after the binding.
  const created = await waitFor(
    () =>
      asExecutor
        .create(performer(a))
        .catch((e: unknown) => (e instanceof ForbiddenError ? undefined : Promise.reject(e))),
    { description: "the executor's RoleBinding to take effect", timeoutMs: 15_000 },
  );
  assert.equal(created.metadata?.namespace, a);
  assert.equal((await asExecutor.list(Performers, { namespace: a })).items.length, 1);
  await assert.rejects(asExecutor.create(performer(b)), ForbiddenError);
  await assert.rejects(asExecutor.list(Performers, { namespace: b }), ForbiddenError);
  await assert.rejects(asExecutor.list(Performers), ForbiddenError, 'no cluster-wide list either');

  const allowed = async (namespace: string, verb: string, subresource?: string) =>
    (
      await client.create({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: ['system:serviceaccounts'],
          resourceAttributes: {
            namespace,
            verb,
            group: 'hourglass.eigenlayer.io',
            resource: 'performers',
            ...(subresource ? { subresource } : {}),
          },
        },
      } as typeof SubjectAccessReviews.__type & object)
    ).status?.allowed === true;
  assert.equal(await allowed(a, 'delete'), true);
  for (const verb of ['update', 'patch', 'deletecollection'])
    assert.equal(await allowed(a, verb), false, `${verb}: the executor never calls it`);
  assert.equal(await allowed(a, 'update', 'status'), false, 'only the operator writes status');
  for (const verb of ['get', 'create', 'delete', 'update']) assert.equal(await allowed(b, verb), false, verb);
});

test("the executor runs its performers' whole life under the chart's Role alone", async (t) => {
  // Each verb of the Role is used by a step here, and a refused call leaves the step undone: list
  // (the connection check, the cleanup at start, the watch's list), create and get (a deploy and
  // its wait for Ready), watch (a Performer deleted by someone else noticed), delete (the old
  // Performer after a promotion).
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-exrbac');
  releaseFinalizersAtEnd(t, client, Performers, ns);
  const rendered = objects(await helm('template', 'exec', chart('hourglass-executor'), '-n', ns));
  for (const obj of rendered)
    if (['ServiceAccount', 'Role', 'RoleBinding'].includes(obj.kind!)) await client.create(obj);
  const sa = rendered.find((o) => o.kind === 'ServiceAccount')!;
  const asExecutor = await asServiceAccount(client, ns, sa.metadata!.name!);
  await assert.rejects(
    asExecutor.list(Pods, { namespace: ns }),
    ForbiddenError,
    'the impersonation is in force',
  );
  await startController(t, ns);
  const v1 = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  const v2 = await startPerformerServer({ port: 0, host: '127.0.0.1' });
  t.after(() => {
    v1.kill();
    v2.kill();
  });
  const ports: Record<string, number> = { v1: v1.port, v2: v2.port };
  const dir = await mkdtemp(join(tmpdir(), 'hg-exrbac-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.yaml');
  const writeConfig = async (tag: string) => {
    await writeFile(
      `${configPath}.new`,
      stringify({
        kubernetes: { namespace: ns, connectionTimeout: '10s', retryDelay: '200ms' },
        avsPerformers: [{ avsAddress: '0xrbac', image: { repository: 'ghcr.io/acme/perf', tag } }],
      }),
    );
    await rename(`${configPath}.new`, configPath);
  };
  await writeConfig('v1');
  const executor = new Executor({
    configPath,
    dataDir: join(dir, 'data'),
    client: asExecutor,
    healthPort: 0,
    endpointResolver: (p) => `127.0.0.1:${ports[p.spec.version!]}`,
    grpc: { retry: { initialDelayMs: 20, maxDelayMs: 100, attemptTimeoutMs: 5000 } },
    readyTimeoutMs: 60_000,
    pollIntervalMs: 200,
    redeployBackoffMs: 200,
  });
  t.after(() => executor.stop());
  const inService = (version: string, not?: string) =>
    waitFor(
      () =>
        executor
          .performers()
          .find((p) => p.status === 'InService' && p.version === version && p.performerId !== not),
      {
        description: `a ${version} performer${not ? ` other than ${not}` : ''} in service`,
        timeoutMs: 90_000,
        intervalMs: 200,
      },
    );
  await executor.start();
  await executor.settled();
  assert.deepEqual(executor.failures(), {});
  const first = await inService('v1');

  // Deleted by someone else: noticed through the watch, and deployed again.
  await client.delete(Performers, first.performerId, ns);
  const second = await inService('v1', first.performerId);

  // A new version: blue-green, the old Performer deleted by the executor.
  await writeConfig('v2');
  await inService('v2');
  await waitFor(async () => !(await client.find(Performers, second.performerId, ns)), {
    description: 'the replaced Performer to be deleted',
    timeoutMs: 60_000,
  });
  await executor.settled();
  assert.deepEqual(executor.failures(), {});
});

test("the operator runs a Performer's whole life under the chart's ClusterRole alone", async (t) => {
  // Every call the operator makes is in this life: a 403 on any of them leaves a step undone, or
  // is logged (a watch retried, an Event's series, the Lease's release), and fails the test.
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-oprbac');
  releaseFinalizersAtEnd(t, client, Performers, ns);
  // The chart's ServiceAccount and rules; the cluster-scoped objects renamed so tests do not share them.
  const rendered = objects(await helm('template', 'hourglass', chart('hourglass-operator'), '-n', ns));
  const sa = rendered.find((o) => o.kind === 'ServiceAccount')!;
  const role = rendered.find((o) => o.kind === 'ClusterRole') as ClusterRole;
  const binding = rendered.find((o) => o.kind === 'ClusterRoleBinding') as ClusterRoleBinding;
  const name = `${ns}-operator`;
  await client.create({ ...sa, metadata: { ...sa.metadata, namespace: ns } });
  await client.create({ ...role, metadata: { name } } as ClusterRole & KubeObject);
  t.after(() => client.delete(ClusterRoles, name).catch(() => {}));
  await client.create({
    ...binding,
    metadata: { name },
    roleRef: { ...binding.roleRef, name },
  } as ClusterRoleBinding & KubeObject);
  t.after(() => client.delete(ClusterRoleBindings, name).catch(() => {}));

  const asOperator = await asServiceAccount(
    client,
    ns,
    sa.metadata!.name!,
    "the operator's ClusterRoleBinding",
  );
  await assert.rejects(asOperator.list(Namespaces), ForbiddenError, 'the impersonation is in force');

  // As the chart runs it: leader election on in the release namespace, Events recorded.
  const logged: string[] = [];
  const mgr = new Manager({
    client: asOperator,
    name: 'hourglass-operator',
    leaderElection: { leaseNamespace: ns },
    logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }),
  });
  setupPerformerController(mgr, { namespace: ns, recreateBackoffMs: 0 });
  t.after(() => mgr.stop());
  await mgr.start();

  await client.create(performer(ns));
  const running = await waitFor(
    async () => {
      const p = await client.find(Performers, 'p', ns);
      return p?.status?.phase === 'Running' ? p : undefined;
    },
    { description: 'the Performer to be Running', timeoutMs: 60_000 },
  );
  assert.ok(running.metadata?.finalizers?.length, 'the operator added its finalizer');
  assert.equal((await client.list(Pods, { namespace: ns })).items.length, 1);
  assert.ok(await client.find(Services, serviceName('p'), ns), 'the operator created its Service');
  await waitFor(
    async () =>
      (await client.list(Events, { namespace: ns })).items.some((e) => e.regarding?.name === 'p') ||
      undefined,
    { description: 'an Event about the Performer', timeoutMs: 30_000 },
  );
  const lease = await client.get(Leases, 'hourglass-operator', ns);
  assert.ok(lease.spec?.holderIdentity, 'the operator holds its Lease');
  const svc = serviceName('p');
  const servingPod = async (description: string, done: (pod: Pod) => boolean = () => true) =>
    waitFor(
      async () => {
        const p = await client.find(Performers, 'p', ns);
        if (p?.status?.phase !== 'Running') return undefined;
        const pod = await client.find(Pods, p.status.podName!, ns);
        return pod && !pod.metadata?.deletionTimestamp && isReady(pod) && done(pod) ? pod : undefined;
      },
      { description, timeoutMs: 60_000 },
    );
  const servicePorts = async () =>
    (await client.get(Services, svc, ns)).spec?.ports?.map((p) => [p.name, p.port]);

  // Its Service's port edited by someone else: patched back.
  await client.patch(Services, svc, ns, {
    spec: { ports: [{ name: 'grpc', port: 9999, targetPort: 'grpc' }] },
  });
  await waitFor(async () => isDeepStrictEqual(await servicePorts(), [['grpc', 9090]]) || undefined, {
    description: "the Service's port to be put back",
    timeoutMs: 30_000,
  });

  // An upgrade (a new port): a second Pod, the Service switched to it, the first Pod deleted.
  const first = await servingPod('the first Pod to serve');
  await client.patch(Performers, 'p', ns, { spec: { config: { grpcPort: 7100 } } });
  const upgraded = await servingPod(
    'the upgrade to serve',
    (pod) => pod.metadata?.uid !== first.metadata?.uid,
  );
  assert.deepEqual(await servicePorts(), [['grpc', 7100]]);
  assert.match((await client.get(Performers, 'p', ns)).status?.grpcEndpoint ?? '', /:7100$/);
  await waitFor(async () => ((await client.find(Pods, first.metadata!.name!, ns)) ? undefined : true), {
    description: 'the first Pod to be deleted',
    timeoutMs: 30_000,
  });

  // Failed: recreated.
  await client.patch(Pods, upgraded.metadata!.name!, ns, { status: { phase: 'Failed' } }, 'merge', 'status');
  const recreated = await servingPod(
    'a new Pod in place of the Failed one',
    (pod) => pod.metadata?.uid !== upgraded.metadata?.uid,
  );

  // Relabelled out of the Performer while it holds a name: a Pod is made under the other name
  // (the create's AlreadyExists is checked with a get), and the relabelled one left alone.
  await client.patch(Pods, recreated.metadata!.name!, ns, {
    metadata: { labels: { 'hourglass.eigenlayer.io/performer': null } },
  });
  await servingPod(
    'a Pod in place of the relabelled one',
    (pod) => pod.metadata?.name !== recreated.metadata?.name,
  );
  await client.delete(Pods, recreated.metadata!.name!, ns, { gracePeriodSeconds: 0 });

  // Deleted: the operator writes its Terminating status, removes its Pods and Service and then its
  // finalizer.
  await client.delete(Performers, 'p', ns);
  await waitFor(async () => ((await client.find(Performers, 'p', ns)) ? undefined : true), {
    description: 'the Performer to be gone',
    timeoutMs: 60_000,
  });
  assert.deepEqual(
    (await client.list(Pods, { namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp),
    [],
  );
  assert.equal(await client.find(Services, svc, ns), undefined);
  // Stopped while its binding holds: releasing the Lease is one of the calls checked.
  await mgr.stop();
  const released = await client.get(Leases, 'hourglass-operator', ns);
  assert.ok(!released.spec?.holderIdentity, 'the operator released its Lease');
  // No write refused along the way: the operator reports one in an Event quoting the 403.
  const refusals = (await client.list(Events, { namespace: ns })).items.filter((e) =>
    /forbidden/i.test(e.note ?? ''),
  );
  assert.deepEqual(
    refusals.map((e) => `${e.reason}: ${e.note}`),
    [],
  );
  assert.deepEqual(
    logged.filter((l) => /forbidden/i.test(l)),
    [],
    'no call refused',
  );
});
