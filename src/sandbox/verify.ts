import type { ResourceAttributes, SubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { KubeClient } from '../runtime/client/client.js';
import { RoleBindings, Roles, ServiceAccounts } from '../runtime/client/kinds.js';

export const APP_SERVICE_ACCOUNT = 'ci-fixer-app';
export const SANDBOX_MANAGER_ROLE = 'ci-fixer-sandbox-manager';
export const SANDBOX_ROLE_BINDING = 'ci-fixer-sandbox-binding';

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface VerifyOptions {
  namespace: string;
  /** A namespace the app must not reach (default kube-system). */
  otherNamespace?: string;
}

/**
 * Every permission the sandbox library and the service use in their namespace, and where: the
 * Role must grant each (verify checks them all, and the tests hold the manifest's and the chart's
 * Role to exactly this list).
 */
export const SANDBOX_MANAGER_PERMISSIONS: readonly (ResourceAttributes & { usedBy: string })[] = [
  { verb: 'create', group: 'batch', resource: 'jobs', usedBy: 'init() creates the Job' },
  {
    verb: 'get',
    group: 'batch',
    resource: 'jobs',
    usedBy: 'teardown() waits for the Job to be gone; init() tells why it timed out',
  },
  {
    verb: 'list',
    group: 'batch',
    resource: 'jobs',
    usedBy: 'the service deletes the sandboxes an earlier container of its Pod left',
  },
  { verb: 'delete', group: 'batch', resource: 'jobs', usedBy: 'teardown() and the exit teardown' },
  {
    verb: 'list',
    resource: 'pods',
    usedBy:
      "init() and the Pod-loss guard list the sandbox's Pod; teardown() waits for it to be gone; the service finds its replicas",
  },
  {
    verb: 'watch',
    resource: 'pods',
    usedBy: "init() waits for the sandbox's Pod; the Pod-loss guard watches it",
  },
  { verb: 'get', resource: 'pods', subresource: 'exec', usedBy: 'commands and files go through exec' },
  {
    verb: 'create',
    resource: 'pods',
    subresource: 'exec',
    usedBy: 'exec, under AuthorizePodWebsocketUpgradeCreatePermission',
  },
];

function serviceAccountUser(namespace: string, name: string) {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

/** Asks the API server whether a service account may do something (kubectl auth can-i --as). */
export async function canServiceAccount(
  client: KubeClient,
  namespace: string,
  serviceAccount: string,
  attributes: ResourceAttributes,
): Promise<boolean> {
  const { user, groups } = serviceAccountUser(namespace, serviceAccount);
  const review = await client.create<SubjectAccessReview>({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user, groups, resourceAttributes: attributes },
  });
  return review.status?.allowed === true;
}

function describe(a: ResourceAttributes): string {
  const resource = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}`;
  return `${a.verb} ${resource}${a.namespace ? ` in namespace ${a.namespace}` : ' (cluster-wide)'}`;
}

/**
 * The seed's deployment checks: the ServiceAccounts, Role and RoleBinding exist and are wired up,
 * and — through SubjectAccessReviews — ci-fixer-app can manage sandbox Jobs in its namespace and
 * nothing beyond it.
 */
export async function verifyDeployment(client: KubeClient, opts: VerifyOptions): Promise<CheckResult[]> {
  const ns = opts.namespace;
  const other = opts.otherNamespace ?? (ns === 'kube-system' ? 'default' : 'kube-system');
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string | undefined>) => {
    try {
      const problem = await fn();
      results.push(problem ? { name, ok: false, detail: problem } : { name, ok: true });
    } catch (err) {
      results.push({ name, ok: false, detail: (err as Error).message });
    }
  };

  for (const sa of [APP_SERVICE_ACCOUNT, 'ci-fixer-sandbox']) {
    await check(`ServiceAccount ${sa} exists in ${ns}`, async () =>
      (await client.find(ServiceAccounts, sa, ns))
        ? undefined
        : `not found (helm install ci-fixer ./chart -n ${ns}; k8s/rbac/k8s.yaml is for the default namespace)`,
    );
  }
  await check(`Role ${SANDBOX_MANAGER_ROLE} exists in ${ns}`, async () =>
    (await client.find(Roles, SANDBOX_MANAGER_ROLE, ns)) ? undefined : 'not found',
  );
  await check(
    `RoleBinding ${SANDBOX_ROLE_BINDING} binds ${APP_SERVICE_ACCOUNT} to ${SANDBOX_MANAGER_ROLE}`,
    async () => {
      const rb = await client.find(RoleBindings, SANDBOX_ROLE_BINDING, ns);
      if (!rb) return 'not found';
      if (rb.roleRef.kind !== 'Role' || rb.roleRef.name !== SANDBOX_MANAGER_ROLE) {
        return `refers to ${rb.roleRef.kind} ${rb.roleRef.name}`;
      }
      const bound = rb.subjects?.some(
        (s) => s.kind === 'ServiceAccount' && s.name === APP_SERVICE_ACCOUNT && (s.namespace ?? ns) === ns,
      );
      return bound ? undefined : `ServiceAccount ${ns}/${APP_SERVICE_ACCOUNT} is not among its subjects`;
    },
  );

  const expect = (sa: string, allowed: boolean, attributes: ResourceAttributes, usedBy?: string) =>
    check(`${sa} ${allowed ? 'can' : 'cannot'} ${describe(attributes)}`, async () => {
      const actual = await canServiceAccount(client, ns, sa, attributes);
      if (actual === allowed) return undefined;
      return actual ? 'allowed, but must not be' : `denied${usedBy ? ` (needed: ${usedBy})` : ''}`;
    });
  const app = APP_SERVICE_ACCOUNT;
  for (const { usedBy, ...attributes } of SANDBOX_MANAGER_PERMISSIONS) {
    await expect(app, true, { ...attributes, namespace: ns }, usedBy);
  }
  await expect(app, false, { verb: 'delete', resource: 'nodes' });
  await expect(app, false, { verb: 'create', group: 'batch', resource: 'jobs', namespace: other });
  await expect(app, false, { verb: 'list', resource: 'pods', namespace: other });
  await expect(app, false, { verb: 'get', resource: 'secrets', namespace: ns });
  await expect(app, false, { verb: 'create', resource: 'pods', namespace: ns });
  await expect(app, false, {
    verb: 'create',
    group: 'rbac.authorization.k8s.io',
    resource: 'rolebindings',
    namespace: ns,
  });
  await expect('ci-fixer-sandbox', false, { verb: 'list', resource: 'pods', namespace: ns });
  return results;
}

/** One line per check, as the seed's script prints them. */
export function formatChecks(results: readonly CheckResult[]): string {
  return results.map((r) => `${r.ok ? '✅' : '❌'} ${r.name}${r.detail ? `: ${r.detail}` : ''}`).join('\n');
}
