import type { TargetKind } from '../apis/ido.intel.com/intent.js';
import type { KpiType } from '../apis/ido.intel.com/kpi-profile.js';

/** CPU of one container in millicores; 0 when unset. */
export interface ContainerCpu {
  request: number;
  limit: number;
}

export interface PodState {
  ready: boolean;
  restarts: number;
  /** Phase Failed, or a container waiting in CrashLoopBackOff / an image error. */
  failed: boolean;
  /**
   * Not Ready yet but still starting: not running yet, or running for less than its start-up
   * window, with no restart and no failure. Such a pod is not serving, but not broken either.
   */
  starting?: boolean;
}

/** What the planner knows about one workload at one moment, and what actuators predict from it. */
export interface PlanState {
  /** `<namespace>/<name>` of the intent. */
  intent: string;
  /** `generation`: the workload's metadata.generation when observed (see WorkloadRef). */
  target: { kind: TargetKind; namespace: string; name: string; generation?: number };
  replicas: number;
  /** Per container, in the pod template's order. */
  cpu: Record<string, ContainerCpu>;
  pods: Record<string, PodState>;
  /** Objective name → current (or predicted) value. */
  objectives: Record<string, number>;
}

/** One objective of the goal, with its direction (from its KPIProfile) and tolerance. */
export interface GoalObjective {
  value: number;
  minimize: boolean;
  /** A fraction of value. */
  tolerance: number;
  type: KpiType;
}

export type Goal = Record<string, GoalObjective>;

/** The bound an objective's value must stay on the right side of, tolerance included. */
export function bound(g: GoalObjective): number {
  return g.minimize ? g.value * (1 + g.tolerance) : g.value * (1 - g.tolerance);
}

export function objectiveMet(current: number | undefined, g: GoalObjective): boolean {
  if (current === undefined || Number.isNaN(current)) return false;
  return g.minimize ? current <= bound(g) : current >= bound(g);
}

/**
 * Why an objective can never be met whatever the planner does, or undefined. KPIs are never
 * negative and availability is a fraction of pods: a goal outside that range (a typo, mostly)
 * would otherwise send the planner to the closest reachable state, max_pods or cpu_max.
 */
export function unmeetable(g: GoalObjective): string | undefined {
  if (g.value < 0) return `value ${g.value} is negative; a ${g.type} KPI never is`;
  const b = bound(g);
  if (g.minimize && g.type === 'latency' && b <= 0)
    return `a latency of at most ${+b.toFixed(4)} can never be met`;
  if (!g.minimize && g.type === 'availability' && b > 1)
    return `an availability of at least ${+b.toFixed(4)} can never be met: it is a fraction of pods, at most 1`;
  return undefined;
}

/** The goal test: every objective met in its direction, within tolerance. */
export function isGoal(state: PlanState, goal: Goal): boolean {
  for (const name in goal) if (!objectiveMet(state.objectives[name], goal[name]!)) return false;
  return true;
}

/**
 * How far a state is from the goal: each unmet objective's violation relative to its bound.
 * The A* heuristic, and what opportunistic mode minimises when the goal cannot be reached.
 */
export function distance(state: PlanState, goal: Goal): number {
  let d = 0;
  for (const name in goal) {
    const g = goal[name]!;
    const current = state.objectives[name];
    if (current === undefined || Number.isNaN(current)) {
      d += 1;
      continue;
    }
    const b = bound(g);
    const miss = g.minimize ? current - b : b - current;
    if (miss > 0) d += miss / Math.max(Math.abs(b), 1e-9);
  }
  return d;
}

/** Replicas times CPU requested: what scaling in or down saves. */
export function footprint(state: PlanState): number {
  let cpu = 0;
  for (const c in state.cpu) cpu += state.cpu[c]!.request || 1;
  return state.replicas * cpu;
}

/**
 * A key equal for states the planner must treat as one: replicas, CPU, the pods and the
 * objective values (rounded, so that float noise does not split a state in two).
 */
export function stateKey(state: PlanState): string {
  let key = `${state.replicas}|`;
  for (const c in state.cpu) key += `${c}=${state.cpu[c]!.request}/${state.cpu[c]!.limit},`;
  key += '|';
  for (const p in state.pods) key += `${p},`;
  key += '|';
  for (const o in state.objectives) key += `${Math.round(state.objectives[o]! * 1e4)},`;
  return key;
}

/**
 * A state derived from `state` by an actuator: replicas, CPU and pods as given (pass `state`'s own
 * to share them: the planner treats states as immutable values), and the objectives copied so the
 * actuator can write its predictions. Cheaper than `cloneState`, which the search would pay for
 * every candidate.
 */
export function deriveState(
  state: PlanState,
  replicas: number,
  cpu: PlanState['cpu'],
  pods: PlanState['pods'],
): PlanState {
  return {
    intent: state.intent,
    target: state.target,
    replicas,
    cpu,
    pods,
    objectives: { ...state.objectives },
  };
}

/** A full copy an actuator can change without touching the state it was derived from. */
export function cloneState(state: PlanState): PlanState {
  const cpu: Record<string, ContainerCpu> = {};
  for (const c in state.cpu) cpu[c] = { ...state.cpu[c]! };
  return {
    intent: state.intent,
    target: state.target,
    replicas: state.replicas,
    cpu,
    pods: { ...state.pods },
    objectives: { ...state.objectives },
  };
}
