import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { SelfSubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { ClusterRole, PolicyRule } from 'kubernetes-types/rbac/v1.js';
import { parseAllDocuments } from 'yaml';
import { type Intent, Intents } from '../../../src/apis/ido.intel.com/intent.js';
import {
  DEFAULT_QUERIES,
  type DefaultQuery,
  type KpiProfile,
} from '../../../src/apis/ido.intel.com/kpi-profile.js';
import type { Action, Actuator } from '../../../src/planner/actuator.js';
import { type PlannerConfig, parsePlannerConfig } from '../../../src/planner/config.js';
import { builtinActuators, setupPlanner } from '../../../src/planner/controller.js';
import { plannerCrds } from '../../../src/planner/crds.js';
import { WorkloadSimulator } from '../../../src/planner/sim/workload-sim.js';
import { JsonLinesTraceStore } from '../../../src/planner/trace/jsonl-store.js';
import { WorkloadUpdater } from '../../../src/planner/workload.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import type { Impersonation } from '../../../src/runtime/client/connection.js';
import { ClusterRoleBindings, ClusterRoles, Deployments } from '../../../src/runtime/client/kinds.js';
import { findCondition } from '../../../src/runtime/conditions.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { watchEvents } from '../../../src/runtime/informer.js';
import type { Logger } from '../../../src/runtime/log.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { startPrometheus, type TestPrometheus } from '../../support/prometheus.js';

/** Short rounds so that tests converge in seconds: a round a second, plans settle for 3 s. */
export const FAST: Parameters<typeof parsePlannerConfig>[0] = {
  controller: { controller_timeout: 1, plan_cache_ttl: 3000, plan_cache_timeout: 20000 },
};

/** A Deployment whose pods land on kwok nodes (they run no code: the simulator answers for them). */
export async function createWorkload(
  client: KubeClient,
  namespace: string,
  name: string,
  replicas: number,
  cpu: string,
): Promise<void> {
  await client.create<Deployment>({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { type: 'kwok' },
          containers: [
            { name: 'sidecar', image: 'registry.local/proxy:1', resources: { requests: { cpu: '100m' } } },
            { name: 'app', image: 'registry.local/app:1', resources: { requests: { cpu }, limits: { cpu } } },
          ],
        },
      },
    },
  });
}

export async function readyReplicas(client: KubeClient, namespace: string, name: string): Promise<number> {
  return (await client.get(Deployments, name, namespace)).status?.readyReplicas ?? 0;
}

/** A simulator for the Deployment, scraped by a real Prometheus; both stopped at the test's end. */
export async function simulate(
  t: TestContext,
  client: KubeClient,
  namespace: string,
  name: string,
  load: number,
): Promise<{ sim: WorkloadSimulator; prometheus: TestPrometheus }> {
  const sim = new WorkloadSimulator({ client, namespace, name, load });
  const port = await sim.start();
  t.after(() => sim.stop());
  const prometheus = await startPrometheus(t, [`127.0.0.1:${port}`]);
  return { sim, prometheus };
}

/** KPIProfiles in the test's namespace with IDO's default queries, pointed at the test's Prometheus. */
export async function createProfiles(client: KubeClient, namespace: string, endpoint: string): Promise<void> {
  for (const [name, type, minimize] of [
    ['p95latency', 'latency', true],
    ['throughput', 'throughput', false],
    ['availability', 'availability', false],
  ] as const) {
    await client.create<KpiProfile>({
      apiVersion: 'ido.intel.com/v1alpha1',
      kind: 'KPIProfile',
      metadata: { name, namespace },
      spec: {
        type,
        minimize,
        ...(type === 'availability'
          ? {}
          : { query: DEFAULT_QUERIES[`default/${name}`]!.query, props: { endpoint } }),
      },
    });
  }
}

/**
 * The planner running in-process on the test's namespace, on a connection of its own (closed
 * only once the planner has stopped), optionally as another identity; stopped at the test's end.
 */
export async function startPlanner(
  t: TestContext,
  namespace: string,
  opts: {
    config?: Parameters<typeof parsePlannerConfig>[0];
    actuators?: string[];
    /**
     * Run before each actuator or plugin that carries out a plan (a stand-in for what happens
     * while a plan is carried out).
     */
    beforePerform?: (plan: readonly Action[]) => Promise<void>;
    /** Remote plugins, asked for each round (e.g. `PluginManager.actuators`). */
    plugins?: () => readonly Actuator[];
    defaultQueries?: Record<string, DefaultQuery>;
    as?: Impersonation;
    logger?: Logger;
  } = {},
): Promise<{ mgr: Manager; traces: JsonLinesTraceStore; traceDir: string; config: PlannerConfig }> {
  const own = await KubeClient.load(testKubeconfig(), { fieldManager: 'tutti-planner' });
  const client = opts.as ? own.impersonating(opts.as) : own;
  const config = parsePlannerConfig(opts.config ?? FAST, 'test config');
  const dir = await mkdtemp(join(tmpdir(), 'tutti-planner-traces-'));
  const traces = await JsonLinesTraceStore.open(dir);
  const mgr = new Manager({
    client,
    name: `planner-${namespace}`,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  setupPlanner(mgr, {
    config,
    defaultQueries: opts.defaultQueries ?? {},
    traces,
    namespace,
    actuators: builtinActuators(config, new WorkloadUpdater(client), traces, opts.actuators).map((a) =>
      performingAfter(a, opts.beforePerform),
    ),
    ...(opts.plugins
      ? { plugins: () => opts.plugins!().map((a) => performingAfter(a, opts.beforePerform)) }
      : {}),
  });
  await mgr.start();
  t.after(async () => {
    await mgr.stop();
    own.close();
    await traces.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { mgr, traces, traceDir: dir, config };
}

/** The actuator, with `hook` run before each of its performs. */
function performingAfter(
  actuator: Actuator,
  hook: ((plan: readonly Action[]) => Promise<void>) | undefined,
): Actuator {
  if (!hook) return actuator;
  // Everything else (its name, its proposals) is the actuator's own.
  const wrapped: Actuator = Object.create(actuator);
  wrapped.perform = async (state, plan, done) => {
    await hook(plan);
    return actuator.perform(state, plan, done);
  };
  return wrapped;
}

export function intent(
  namespace: string,
  name: string,
  target: string,
  objectives: Intent['spec']['objectives'],
  priority = 0.5,
): Intent {
  return {
    apiVersion: 'ido.intel.com/v1alpha1',
    kind: 'Intent',
    metadata: { name, namespace },
    spec: { targetRef: { kind: 'Deployment', name: `${namespace}/${target}` }, priority, objectives },
  };
}

/** `web-p95`: p95 ≤ 15 ms on Deployment `web`, measured by the namespace's p95latency profile. */
export function webP95(ns: string): Intent {
  return intent(ns, 'web-p95', 'web', [{ name: 'p95', value: 15, measuredBy: `${ns}/p95latency` }]);
}

/** Waits for an intent's condition to have a status; returns the intent as then read. */
export async function waitForCondition(
  client: KubeClient,
  namespace: string,
  name: string,
  type: string,
  status: string,
  timeoutMs = 90_000,
): Promise<Intent> {
  return waitFor(
    async () => {
      const i = await client.get(Intents, name, namespace);
      if (findCondition(i.status?.conditions, type)?.status === status) return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: `intent ${namespace}/${name} to have ${type}=${status}`, timeoutMs, intervalMs: 250 },
  );
}

/**
 * A client speaking as a ServiceAccount of the test's namespace bound to the rules of the seed's
 * ClusterRole (deploy/ido/rbac.yaml, copied under a name of the test's own), once in force;
 * `omit` leaves rules out (as an older copy of the role would).
 */
export async function asPlannerServiceAccount(
  t: TestContext,
  client: KubeClient,
  namespace: string,
  omit: (rule: PolicyRule) => boolean = () => false,
): Promise<Impersonation> {
  const text = await readFile(new URL('../../../deploy/ido/rbac.yaml', import.meta.url), 'utf8');
  const role = parseAllDocuments(text)
    .map((d) => d.toJS() as ClusterRole)
    .find((o) => o.kind === 'ClusterRole')!;
  const name = `planner-role-${namespace}`;
  await client.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'planner', namespace } });
  await client.create<ClusterRole>({
    ...role,
    rules: role.rules?.filter((r) => !omit(r)),
    metadata: { name },
  });
  t.after(() => client.delete(ClusterRoles, name).catch(() => {}));
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    subjects: [{ kind: 'ServiceAccount', name: 'planner', namespace }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
  });
  t.after(() => client.delete(ClusterRoleBindings, name).catch(() => {}));
  const identity: Impersonation = {
    user: `system:serviceaccount:${namespace}:planner`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
  const planner = client.impersonating(identity);
  // RBAC is served from an informer cache: wait until the binding is in force.
  await waitFor(
    async () => {
      const review = await planner.create<SelfSubjectAccessReview>({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            namespace,
            group: 'ido.intel.com',
            resource: 'intents',
            subresource: 'status',
            verb: 'update',
          },
        },
      });
      return review.status?.allowed === true;
    },
    { description: 'the planner ServiceAccount to be allowed to update intents/status', timeoutMs: 30_000 },
  );
  return identity;
}

/**
 * The set-up of a planner test: the CRDs, a namespace, a Deployment of `replicas` with `cpu` for
 * its app container, the simulator at `load` req/s scraped by Prometheus, and KPIProfiles on it.
 */
export async function simulatedWorkload(
  t: TestContext,
  prefix: string,
  w: { name: string; replicas: number; cpu: string; load: number },
): Promise<{ client: KubeClient; ns: string; sim: WorkloadSimulator; prometheus: TestPrometheus }> {
  const client = await testClient(t);
  await installCrds(client, plannerCrds());
  const ns = await testNamespace(t, client, prefix);
  await createWorkload(client, ns, w.name, w.replicas, w.cpu);
  const { sim, prometheus } = await simulate(t, client, ns, w.name, w.load);
  await createProfiles(client, ns, prometheus.queryUrl);
  return { client, ns, sim, prometheus };
}

/**
 * Every status the namespace's intents take from `resourceVersion` on (from now when absent), as
 * the watch delivers them: a status that stands only until the next round is kept too.
 */
export async function intentStatuses(
  t: TestContext,
  client: KubeClient,
  ns: string,
  resourceVersion?: string,
): Promise<Intent[]> {
  const statuses: Intent[] = [];
  const watch = await client.watchStream(Intents, {
    namespace: ns,
    ...(resourceVersion ? { resourceVersion } : {}),
  });
  t.after(() => watch.destroy());
  void (async () => {
    for await (const e of watchEvents<Intent>(watch)) statuses.push(e.object);
  })().catch(() => {});
  return statuses;
}

/**
 * A planner for `web-p95` (p95 ≤ 15 ms on `web`) whose first plan is raced: between planning and
 * acting, an operator scales the Deployment to 6, as `kubectl scale` would. Every status the
 * intent takes is in `statuses`, since the dropped plan's stands only until the next round.
 */
export async function racedPlanner(
  t: TestContext,
  client: KubeClient,
  ns: string,
  opts: Omit<Parameters<typeof startPlanner>[2], 'beforePerform'>,
): Promise<{ statuses: Intent[] }> {
  let scaled = false;
  const operator = async () => {
    if (scaled) return;
    scaled = true;
    await client.patch(Deployments, 'web', ns, { spec: { replicas: 6 } });
  };
  await startPlanner(t, ns, { ...opts, beforePerform: operator });
  const statuses = await intentStatuses(t, client, ns);
  await client.create(webP95(ns));
  return { statuses };
}

/** Waits until `web-p95` is planned again after a dropped plan: not WorkloadChanged, not Degraded. */
export function replanned(client: KubeClient, ns: string): Promise<Intent> {
  return waitFor(
    async () => {
      const i = await client.get(Intents, 'web-p95', ns);
      if (
        findCondition(i.status?.conditions, 'Planning')?.reason !== 'WorkloadChanged' &&
        findCondition(i.status?.conditions, 'Degraded')?.status === 'False'
      )
        return i;
      throw new Error(`status now ${JSON.stringify(i.status ?? {})}`);
    },
    { description: 'the intent to be planned again', timeoutMs: 30_000, intervalMs: 250 },
  );
}
