import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Container, Pod, Probe } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { type Intent, TARGET_KINDS, type TargetKind } from '../apis/ido.intel.com/intent.js';
import type { DefaultQuery, KpiProfile } from '../apis/ido.intel.com/kpi-profile.js';
import type { KubeClient } from '../runtime/client/client.js';
import { NotFoundError } from '../runtime/client/errors.js';
import { Deployments, Pods, ReplicaSets } from '../runtime/client/kinds.js';
import { availability } from './actuators/rm-pod.js';
import { formatQuery, resolveProfile } from './profiles.js';
import type { PrometheusClient } from './prometheus.js';
import { type ContainerCpu, type Goal, type PlanState, type PodState, unmeetable } from './state.js';
import type { WorkloadRef } from './workload.js';

/** Why one objective has no value this round. */
export interface ObjectiveFailure {
  objective: string;
  /** CamelCase, for the Degraded condition's reason. */
  reason: 'ProfileNotFound' | 'ProfileUnresolved' | 'QueryFailed' | 'InvalidObjective';
  message: string;
}

export type Observation =
  | { ok: false; reason: 'InvalidTarget' | 'TargetNotFound' | 'DuplicateObjective'; message: string }
  | {
      ok: true;
      target: WorkloadRef;
      /** Objectives that could be measured; the failed ones are absent. */
      state: PlanState;
      goal: Goal;
      failures: ObjectiveFailure[];
      /** The workload has rolled out its latest spec (the last plan has taken effect). */
      rolledOut: boolean;
    };

/** CPU quantity to millicores ("500m", "0.5", "2"); 0 when unset. */
export function cpuMillis(q: string | number | undefined): number {
  if (q === undefined) return 0;
  const s = String(q).trim();
  const m = /^([0-9.]+)(m?)$/.exec(s);
  if (!m) throw new Error(`CPU quantity "${s}" is not understood (expected e.g. 500m or 0.5)`);
  const n = Number(m[1]);
  return Math.round(m[2] ? n : n * 1000);
}

/** `<namespace>/<name>`, or a bare name in the intent's own namespace. */
export function parseTargetRef(intent: Intent): WorkloadRef | string {
  const kind = (intent.spec.targetRef?.kind ?? 'Deployment') as TargetKind;
  if (!TARGET_KINDS.includes(kind)) return `targetRef.kind ${kind} is not one of ${TARGET_KINDS.join(', ')}`;
  const raw = intent.spec.targetRef?.name ?? '';
  const parts = raw.split('/');
  if (parts.length === 1 && parts[0])
    return { kind, namespace: intent.metadata?.namespace ?? 'default', name: raw };
  if (parts.length === 2 && parts[0] && parts[1]) return { kind, namespace: parts[0], name: parts[1] };
  return `targetRef.name "${raw}" is not <namespace>/<name>`;
}

/**
 * The `<namespace>/<name>` key of an objective's KPIProfile. IDO only ever matched
 * `<namespace>/<name>`; a bare name is taken in the intent's own namespace, as a bare
 * targetRef name is.
 */
export function profileKey(intent: Intent, measuredBy: string): string {
  return measuredBy.includes('/') ? measuredBy : `${intent.metadata?.namespace ?? 'default'}/${measuredBy}`;
}

export function targetKey(ref: WorkloadRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** A label selector as the API's query string (matchLabels and matchExpressions). */
export function selectorString(sel: LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

const FAILING_WAIT_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/**
 * The least start-up window of a running container, even one with no probes: the kubelet reports
 * Ready a moment after the start (Kubernetes' default probe period).
 */
export const MIN_START_WINDOW_MS = 10_000;

/** How long a probe lets a container go unready before it counts as failing (Kubernetes' defaults). */
function probeWindowMs(p: Probe | undefined): number {
  if (!p) return 0;
  return ((p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3)) * 1000;
}

/** A container's start-up window: what its startup probe, then its readiness probe, allow. */
function startWindowMs(c: Container | undefined): number {
  return Math.max(MIN_START_WINDOW_MS, probeWindowMs(c?.startupProbe) + probeWindowMs(c?.readinessProbe));
}

/**
 * Whether a pod that is not Ready (and neither failed nor restarted) is still starting: not
 * running yet (scheduling, pulling images, init containers), a container not started yet, or
 * every container that is not ready started less than its start-up window ago.
 */
function stillStarting(pod: Pod, now: number): boolean {
  const phase = pod.status?.phase;
  if (phase === undefined || phase === 'Pending') return true;
  if (phase !== 'Running') return false;
  const specs = new Map((pod.spec?.containers ?? []).map((c) => [c.name, c]));
  const statuses = pod.status?.containerStatuses ?? [];
  for (const s of statuses) {
    if (s.ready) continue;
    if (s.state?.waiting) continue; // not started yet (its failing reasons are `failed`)
    const started = Date.parse(s.state?.running?.startedAt ?? '');
    if (!Number.isFinite(started) || now >= started + startWindowMs(specs.get(s.name))) return false;
  }
  if (statuses.every((s) => s.ready)) {
    // Containers ready, the pod not yet (readiness gates, or a status not caught up): as long as
    // the last container start's window.
    const started = Math.max(...statuses.map((s) => Date.parse(s.state?.running?.startedAt ?? '')));
    return Number.isFinite(started) && now < started + MIN_START_WINDOW_MS;
  }
  return true;
}

export function podState(pod: Pod, now = Date.now()): PodState {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const restarts = statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
  const failed =
    pod.status?.phase === 'Failed' ||
    statuses.some((s) => FAILING_WAIT_REASONS.has(s.state?.waiting?.reason ?? ''));
  const starting = !ready && !failed && restarts === 0 && stillStarting(pod, now);
  return { ready, restarts, failed, ...(starting ? { starting } : {}) };
}

/** Whether a pod is in trouble: what makes the planner look again before its next round. */
export function podInTrouble(pod: Pod): boolean {
  const s = podState(pod);
  return s.failed || s.restarts > 0;
}

export interface KpiObserverOptions {
  client: KubeClient;
  prometheus: PrometheusClient;
  /** The KPIProfile named `<namespace>/<name>`, from the informer cache. */
  profile(key: string): KpiProfile | undefined;
  /** The queries ConfigMap's default_queries.json. */
  defaultQueries: Readonly<Record<string, DefaultQuery>>;
}

/**
 * Observes one intent: its target's replicas, CPU per container and pods (read from the API
 * server, the `get` and `list` the planner's ClusterRole grants), and each objective's value:
 * availability from the pods, everything else from its KPIProfile's Prometheus query. A value
 * that cannot be had is a failure naming why, never a default.
 */
export class KpiObserver {
  constructor(private readonly opts: KpiObserverOptions) {}

  /** The generation of each KPIProfile the intent's objectives name (`-` for one not found). */
  profileGenerations(intent: Intent): string {
    return intent.spec.objectives
      .map((o) => {
        const k = profileKey(intent, o.measuredBy);
        return `${k}@${this.opts.profile(k)?.metadata?.generation ?? '-'}`;
      })
      .join(',');
  }

  async observe(intent: Intent, signal?: AbortSignal): Promise<Observation> {
    // The CRD refuses duplicate names; an intent stored under an older CRD may still have them,
    // and two goals of one name cannot be planned for or reported.
    const names = intent.spec.objectives.map((o) => o.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined)
      return {
        ok: false,
        reason: 'DuplicateObjective',
        message: `objective name "${twice}" appears more than once; objective names must be unique`,
      };
    const ref = parseTargetRef(intent);
    if (typeof ref === 'string') return { ok: false, reason: 'InvalidTarget', message: ref };
    let workload: Deployment | ReplicaSet;
    try {
      workload = await this.opts.client.get<Deployment | ReplicaSet>(
        ref.kind === 'Deployment' ? Deployments : ReplicaSets,
        ref.name,
        ref.namespace,
      );
    } catch (err) {
      if (err instanceof NotFoundError)
        return {
          ok: false,
          reason: 'TargetNotFound',
          message: `${ref.kind} ${ref.namespace}/${ref.name} not found`,
        };
      throw err;
    }
    const selector = selectorString(workload.spec?.selector);
    const pods = selector
      ? (await this.opts.client.list(Pods, { namespace: ref.namespace, labelSelector: selector })).items
      : [];
    const cpu: Record<string, ContainerCpu> = {};
    for (const c of workload.spec?.template?.spec?.containers ?? [])
      cpu[c.name] = {
        request: cpuMillis(c.resources?.requests?.['cpu'] ?? c.resources?.limits?.['cpu']),
        limit: cpuMillis(c.resources?.limits?.['cpu']),
      };
    const podStates: Record<string, PodState> = {};
    for (const p of pods) if (!p.metadata?.deletionTimestamp) podStates[p.metadata!.name!] = podState(p);

    const intentKey = `${intent.metadata?.namespace}/${intent.metadata?.name}`;
    const state: PlanState = {
      intent: intentKey,
      // Its generation makes the actuators' changes conditional on the spec observed here.
      target: { ...ref, generation: workload.metadata?.generation ?? 0 },
      replicas: workload.spec?.replicas ?? 1,
      cpu,
      pods: podStates,
      objectives: {},
    };
    const goal: Goal = {};
    const failures: ObjectiveFailure[] = [];
    const kindLabel = ref.kind.toLowerCase();
    await Promise.all(
      intent.spec.objectives.map(async (o) => {
        const key = profileKey(intent, o.measuredBy);
        const profile = this.opts.profile(key);
        if (!profile) {
          failures.push({
            objective: o.name,
            reason: 'ProfileNotFound',
            message: `${o.name}: KPIProfile ${key} not found`,
          });
          return;
        }
        const resolved = resolveProfile(profile, this.opts.defaultQueries);
        goal[o.name] = {
          value: o.value,
          minimize: resolved.minimize,
          tolerance: o.tolerance ?? 0,
          type: resolved.type,
        };
        // Still observed below, so that the status shows where the objective stands.
        const invalid = unmeetable(goal[o.name]!);
        if (invalid)
          failures.push({ objective: o.name, reason: 'InvalidObjective', message: `${o.name}: ${invalid}` });
        if (!resolved.resolved) {
          failures.push({
            objective: o.name,
            reason: 'ProfileUnresolved',
            message: `${o.name}: ${resolved.reason}`,
          });
          return;
        }
        if (resolved.type === 'availability') {
          state.objectives[o.name] = availability(podStates);
          return;
        }
        const query = formatQuery(resolved.query, ref.namespace, kindLabel, ref.name);
        try {
          state.objectives[o.name] = await this.opts.prometheus.value(resolved.endpoint, query, signal);
        } catch (err) {
          if (signal?.aborted) throw err;
          failures.push({
            objective: o.name,
            reason: 'QueryFailed',
            message: `${o.name}: ${(err as Error).message}`,
          });
        }
      }),
    );
    failures.sort((a, b) => a.objective.localeCompare(b.objective));
    return { ok: true, target: ref, state, goal, failures, rolledOut: rolledOut(workload, ref.kind) };
  }
}

function rolledOut(w: Deployment | ReplicaSet, kind: TargetKind): boolean {
  const want = w.spec?.replicas ?? 1;
  const s = w.status;
  if ((s?.observedGeneration ?? 0) < (w.metadata?.generation ?? 0)) return false;
  const updated = kind === 'Deployment' ? ((s as Deployment['status'])?.updatedReplicas ?? 0) : want;
  return updated === want && (s?.replicas ?? 0) === want && (s?.readyReplicas ?? 0) === want;
}
