import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type {
  NamedRuleWithOperations,
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-types/admissionregistration/v1.js';
import { parse, stringify } from 'yaml';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Namespaces, Pods, ServiceAccounts } from '../../src/runtime/client/kinds.js';
import { type Kind, kind } from '../../src/runtime/client/types.js';
import { waitFor } from '../../src/runtime/wait.js';

/** The kubeconfig of the cluster the test run targets; fails the test with the reason when none is up. */
export function testKubeconfig(): string {
  const kubeconfig = process.env['TUTTI_TEST_KUBECONFIG'];
  if (kubeconfig) return kubeconfig;
  const why = process.env['TUTTI_TEST_CLUSTER_ERROR'];
  throw new Error(
    why
      ? `the test control plane failed to start: ${why}`
      : 'no test cluster: run the suite with `npm test`, or set TUTTI_TEST_KUBECONFIG',
  );
}

/** A kubeconfig as parsed, as far as tests change it. */
export interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  'current-context'?: string;
}

/**
 * A kubeconfig (the test cluster's by default) changed by `change`, written to a directory of its
 * own that is removed when the test ends.
 */
export async function kubeconfigVariant(
  t: TestContext,
  change: (doc: KubeconfigDoc) => void,
  source = testKubeconfig(),
): Promise<{ kubeconfig: string; dir: string }> {
  const doc = parse(await readFile(source, 'utf8')) as KubeconfigDoc;
  change(doc);
  const dir = await mkdtemp(join(tmpdir(), 'tutti-kubeconfig-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, stringify(doc));
  return { kubeconfig, dir };
}

/**
 * A kubeconfig (the test cluster's by default) with a second context: `plane` reaches its cluster,
 * and the current context, `nowhere`, names a port nothing listens on. Only a client that honours
 * a chosen context gets through.
 */
export async function twoContextKubeconfig(t: TestContext, source = testKubeconfig()): Promise<string> {
  const { kubeconfig } = await kubeconfigVariant(
    t,
    (doc) => {
      const current = doc.contexts.find((c) => c.name === doc['current-context'])!;
      doc.clusters.push({ name: 'nowhere', cluster: { server: 'https://127.0.0.1:9' } });
      doc.contexts = [
        { name: 'plane', context: current.context },
        { name: 'nowhere', context: { ...current.context, cluster: 'nowhere' } },
      ];
      doc['current-context'] = 'nowhere';
    },
    source,
  );
  return kubeconfig;
}

export async function testClient(
  t: TestContext | undefined,
  fieldManager = 'tutti-test',
): Promise<KubeClient> {
  const client = await KubeClient.load(testKubeconfig(), { fieldManager });
  t?.after(() => client.close());
  return client;
}

/**
 * A fresh namespace for one test, with its default ServiceAccount present (pods need it),
 * deleted when the test ends.
 */
export async function testNamespace(t: TestContext, client: KubeClient, prefix = 't'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await client.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'tutti.dev/test': 'true' } },
  });
  t.after(async () => {
    await client.delete(Namespaces, name).catch(() => {});
  });
  await waitFor(() => client.find(ServiceAccounts, 'default', name), {
    description: `the default ServiceAccount in namespace ${name}`,
    timeoutMs: 30_000,
  });
  return name;
}

/**
 * A Pod `name` in `namespace` that sleeps, once it is Running: something to exec into (the local
 * plane's kwok runs exec commands on this machine).
 */
export async function shellPod(client: KubeClient, namespace: string, name = 'shell'): Promise<void> {
  await client.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'main', image: 'busybox', command: ['sleep', 'infinity'] }] },
  });
  await waitFor(async () => (await client.get(Pods, name, namespace)).status?.phase === 'Running', {
    description: `pod ${namespace}/${name} to be Running`,
    timeoutMs: 30_000,
  });
}

/**
 * Once the test has ended and its namespace is being deleted, strips the finalizers of the `kind`
 * objects left in it: tests stop their controllers in cleanup too, and an object whose finalizer's
 * controller is gone would hold the namespace in Terminating for ever. Call after testNamespace.
 */
export function releaseFinalizersAtEnd(t: TestContext, client: KubeClient, k: Kind, namespace: string): void {
  t.after(async () => {
    const left = await client.list(k, { namespace }).catch(() => ({ items: [] }));
    for (const o of left.items) {
      if (!o.metadata?.finalizers?.length) continue;
      await client.patch(k, o.metadata.name!, namespace, { metadata: { finalizers: null } }).catch(() => {});
    }
  });
}

/**
 * A control plane of the test file's own, for tests that stop, kill or compact parts of it: they
 * must not disturb the tests sharing the run's plane. Skipped against an external cluster.
 */
export async function dedicatedControlPlane(
  t: TestContext,
  name: string,
): Promise<LocalControlPlane | undefined> {
  if (!process.env['TUTTI_TEST_CLUSTER']) {
    t.skip('needs a local control plane (TUTTI_TEST_KUBECONFIG names an external cluster)');
    return undefined;
  }
  const plane = new LocalControlPlane(`${process.env['TUTTI_TEST_CLUSTER']}-${name}`);
  await plane.up();
  t.after(() => plane.down());
  return plane;
}

const ValidatingAdmissionPolicies = kind<ValidatingAdmissionPolicy>(
  'admissionregistration.k8s.io/v1',
  'ValidatingAdmissionPolicy',
);
const ValidatingAdmissionPolicyBindings = kind<ValidatingAdmissionPolicyBinding>(
  'admissionregistration.k8s.io/v1',
  'ValidatingAdmissionPolicyBinding',
);

/**
 * A ValidatingAdmissionPolicy that denies, in `namespace`, the requests `rule` matches when
 * `expression` is false — a site's own rules, as a cluster would have them — with its binding,
 * both removed when the test ends. Policies take effect a moment after they are made: probe first.
 */
export async function denyingPolicy(
  t: TestContext,
  client: KubeClient,
  name: string,
  opts: { namespace: string; rule: NamedRuleWithOperations; expression: string; message: string },
): Promise<void> {
  await client.create<ValidatingAdmissionPolicy>({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': opts.namespace } },
        resourceRules: [opts.rule],
      },
      validations: [{ expression: opts.expression, message: opts.message }],
    },
  });
  await client.create<ValidatingAdmissionPolicyBinding>({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: { policyName: name, validationActions: ['Deny'] },
  });
  t.after(async () => {
    await client.delete(ValidatingAdmissionPolicyBindings, name).catch(() => {});
    await client.delete(ValidatingAdmissionPolicies, name).catch(() => {});
  });
}
