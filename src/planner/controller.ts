import type { Pod } from 'kubernetes-types/core/v1.js';
import { type Intent, Intents } from '../apis/ido.intel.com/intent.js';
import { type DefaultQuery, type KpiProfile, KpiProfiles } from '../apis/ido.intel.com/kpi-profile.js';
import { NotFoundError } from '../runtime/client/errors.js';
import { Pods } from '../runtime/client/kinds.js';
import { beyondStatus } from '../runtime/controller.js';
import type { Manager } from '../runtime/manager.js';
import { updateStatus } from '../runtime/objects.js';
import { requeueAfter } from '../runtime/reconcile.js';
import type { Actuator } from './actuator.js';
import { CpuScaleActuator } from './actuators/cpu-scale.js';
import { RmPodActuator } from './actuators/rm-pod.js';
import { scalingActuators } from './actuators/scaling.js';
import type { PlannerConfig } from './config.js';
import { KpiObserver, parseTargetRef, podInTrouble, profileKey, targetKey } from './observer.js';
import { IntentPlanner } from './planner.js';
import { resolveProfile } from './profiles.js';
import { PrometheusClient } from './prometheus.js';
import type { TraceStore } from './trace/store.js';
import { WorkloadUpdater } from './workload.js';

/** The in-process actuators IDO ships as plugins, by name. */
export const ACTUATOR_NAMES = ['scale_out', 'scale_in', 'rm_pod', 'cpu_scale'] as const;

/** The in-process actuators, configured from the `actuators` section; `only` picks some by name. */
export function builtinActuators(
  config: PlannerConfig,
  updater: WorkloadUpdater,
  traces: TraceStore,
  only: readonly string[] = ACTUATOR_NAMES,
): Actuator[] {
  for (const n of only)
    if (!(ACTUATOR_NAMES as readonly string[]).includes(n))
      throw new Error(`unknown actuator ${n}; choose from ${ACTUATOR_NAMES.join(', ')}`);
  const [scaleOut, scaleIn] = scalingActuators(config.actuators.scale_out, updater, traces);
  const all: Actuator[] = [
    scaleOut,
    scaleIn,
    new RmPodActuator(config.actuators.rm_pod, updater),
    new CpuScaleActuator(config.actuators.cpu_scale, updater, traces),
  ];
  return all.filter((a) => only.includes(a.name));
}

export interface PlannerSetupOptions {
  config: PlannerConfig;
  /** The queries ConfigMap's default_queries.json (keyed `<namespace>/<profile>`). */
  defaultQueries: Readonly<Record<string, DefaultQuery>>;
  traces: TraceStore;
  /** Default: every in-process actuator. */
  actuators?: readonly Actuator[];
  /** Remote plugins, asked for each round (e.g. `PluginManager.actuators`), after `actuators`. */
  plugins?: () => readonly Actuator[];
  /**
   * Watch intents and pods, and write profiles' status, in this namespace only; default every
   * namespace. Profiles are read in every namespace.
   */
  namespace?: string;
  prometheus?: PrometheusClient;
}

/** Which intents a pod's trouble concerns: those targeting its ReplicaSet or its Deployment. */
export function podTargets(pod: Pod): string[] {
  const ns = pod.metadata?.namespace ?? '';
  const rs = pod.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'ReplicaSet')?.name;
  if (!rs) return [];
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  const out = [`ReplicaSet/${ns}/${rs}`];
  if (hash && rs.endsWith(`-${hash}`)) out.push(`Deployment/${ns}/${rs.slice(0, -hash.length - 1)}`);
  return out;
}

/**
 * The planner on the runtime: a KPIProfile controller writing status.resolved/reason, and an
 * Intent controller running a planning round per workload every controller_timeout and on
 * intent, profile and pod-trouble events. Reads only what the seed's ClusterRole grants
 * (intents, kpiprofiles and pods list/watch; deployments and replicasets get), and the
 * HorizontalPodAutoscalers Tutti's addition to it lets it list, and writes status with `update`.
 */
export function setupPlanner(mgr: Manager, opts: PlannerSetupOptions): IntentPlanner {
  const { config } = opts;
  const sel = opts.namespace ? { namespace: opts.namespace } : {};
  // Profiles are read in every namespace even with `namespace`: measuredBy may name one anywhere
  // (IDO's defaults live in `default`), and IDO's planner reads them cluster-wide too.
  const profiles = mgr.informer(KpiProfiles, {});
  const updater = new WorkloadUpdater(mgr.client);
  const actuators = opts.actuators ?? builtinActuators(config, updater, opts.traces);
  const observer = new KpiObserver({
    client: mgr.client,
    prometheus: opts.prometheus ?? new PrometheusClient(),
    profile: (k) => profiles.get(k),
    defaultQueries: opts.defaultQueries,
  });
  const log = mgr.log.child({ module: 'planner' });
  const plugins = opts.plugins;
  const planner = new IntentPlanner({
    client: mgr.client,
    config,
    observer,
    actuators: plugins ? () => [...actuators, ...plugins()] : () => actuators,
    traces: opts.traces,
    log,
  });

  const intentsOf = (pred: (i: Intent) => boolean): string[] =>
    intents
      .cache<Intent>()
      .list()
      .filter(pred)
      .map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`);
  const targetOf = (i: Intent): string | undefined => {
    const ref = parseTargetRef(i);
    return typeof ref === 'string' ? undefined : targetKey(ref);
  };

  // The workload each intent was last planned on. One that leaves it (deleted, made inactive,
  // retargeted, its target made invalid) may have been driving the rounds of the intents left
  // there, who get no round of their own until another leads.
  const plannedOn = new Map<string, string>();
  const leave = (k: string, now: string | undefined) => {
    const before = plannedOn.get(k);
    if (now === undefined) plannedOn.delete(k);
    else plannedOn.set(k, now);
    if (before === undefined || before === now) return;
    for (const other of intentsOf((i) => i.spec.active !== false && targetOf(i) === before))
      if (other !== k) intents.enqueue(other);
  };

  const intents = mgr
    .controller('ido-intents', { workers: config.controller.workers })
    // The planner writes every intent's status each round: only a change beyond it (the spec, a
    // label, deletion) starts a round; otherwise each round's status would start the next at once.
    .for(Intents, { ...sel, updates: beyondStatus })
    .watches(
      KpiProfiles,
      (p: KpiProfile) => {
        const k = `${p.metadata?.namespace}/${p.metadata?.name}`;
        return intentsOf((i) => i.spec.objectives.some((o) => profileKey(i, o.measuredBy) === k));
      },
      {},
    )
    .watches(
      Pods,
      (pod: Pod) => {
        if (!podInTrouble(pod)) return [];
        const targets = podTargets(pod);
        return intentsOf((i) => targets.includes(targetOf(i) ?? ''));
      },
      sel,
    )
    .reconcile(async (req, ctx) => {
      const intent = intents.cache<Intent>().get(req.key);
      if (!intent) {
        // Deleted: whoever shared its workload plans without it now.
        leave(req.key, undefined);
        return;
      }
      const ref = parseTargetRef(intent);
      if (typeof ref === 'string') {
        leave(req.key, undefined);
        await planner.idle(intent, 'InvalidTarget', ref, true);
        return;
      }
      if (intent.spec.active === false) {
        leave(req.key, undefined);
        await planner.idle(intent, 'Inactive', 'spec.active is false: the planner leaves this intent alone');
        return;
      }
      const target = targetKey(ref);
      leave(req.key, target);
      const group = intents
        .cache<Intent>()
        .list()
        .filter((i) => i.spec.active !== false && targetOf(i) === target)
        .sort((a, b) =>
          `${a.metadata?.namespace}/${a.metadata?.name}` < `${b.metadata?.namespace}/${b.metadata?.name}`
            ? -1
            : 1,
        );
      // One round per workload covers all its intents: the first of them drives it.
      const leader = `${group[0]!.metadata?.namespace}/${group[0]!.metadata?.name}`;
      if (leader !== req.key) {
        intents.enqueue(leader);
        return;
      }
      return requeueAfter(await planner.round(target, group, ctx.signal));
    });

  mgr
    .controller('ido-kpiprofiles', { workers: config.monitor.profile.workers })
    .for(KpiProfiles, {})
    .reconcile(async (req) => {
      const p = profiles.get(req.key);
      // Status is written only for the profiles of the namespace this planner is given.
      if (!p || (opts.namespace && p.metadata?.namespace !== opts.namespace)) return;
      const r = resolveProfile(p, opts.defaultQueries);
      const want = { resolved: r.resolved, reason: r.resolved ? (r.warning ?? '') : r.reason };
      if (p.status?.resolved === want.resolved && (p.status?.reason ?? '') === want.reason) return;
      try {
        await updateStatus(mgr.client, KpiProfiles, p.metadata!.name!, p.metadata?.namespace, (cur) => {
          if (cur.status?.resolved === want.resolved && (cur.status?.reason ?? '') === want.reason)
            return false;
          cur.status = want;
          return true;
        });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    });
  return planner;
}
