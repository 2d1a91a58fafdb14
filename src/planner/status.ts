import type { Condition } from 'kubernetes-types/meta/v1.js';
import {
  CONDITION_CONFLICT,
  CONDITION_DEGRADED,
  CONDITION_FULFILLED,
  CONDITION_PLANNING,
  type Intent,
  type IntentStatus,
  type LastPlan,
  type ObjectiveStatus,
} from '../apis/ido.intel.com/intent.js';
import { type ConditionInput, findCondition, setCondition } from '../runtime/conditions.js';
import { bound, type Goal, objectiveMet } from './state.js';

/** What one planning round found and did for one intent: everything its status reports. */
export interface IntentOutcome {
  /** Observed values; absent objectives could not be observed. */
  values: Record<string, number>;
  goal: Goal;
  /** Why the intent could not be fully observed or acted on (Degraded), if anything. */
  degraded?: { reason: string; message: string };
  /** Degraded=False's reason when nothing was observed to be fine (default `Observed`). */
  notDegraded?: string;
  planning: { status: 'True' | 'False'; reason: string; message: string };
  conflict?: { with: string[]; message: string };
  /** A new plan to report, when one was made this round (empty plans are not reported). */
  lastPlan?: LastPlan;
  /**
   * A round that only refreshes what is observed (while the workload settles) keeps what the last
   * round that planned said: `conflict` keeps the Conflict condition as it is; `planning` keeps
   * the Planning condition (`planning` above is written only when there is none); `degraded`
   * keeps Degraded=ActuationFailed unless `degraded` above says what is wrong now.
   */
  keep?: { conflict?: boolean; planning?: boolean; degraded?: boolean };
}

function describeObjective(name: string, value: number | undefined, g: Goal[string] | undefined): string {
  if (!g) return `${name}: not measured`;
  const op = g.minimize ? '≤' : '≥';
  return `${name} ${value === undefined ? 'unknown' : +value.toFixed(4)} (want ${op} ${+bound(g).toFixed(4)})`;
}

/**
 * The intent's next status from this round's outcome. Conditions move their
 * lastTransitionTime only on a status change, so `kubectl get` shows how long each has held.
 */
export function nextIntentStatus(intent: Intent, out: IntentOutcome, now = new Date()): IntentStatus {
  const prev = intent.status ?? {};
  const generation = intent.metadata?.generation;
  // status.objectives is keyed by name: a duplicate (refused by the CRD, but possible in an
  // intent stored before) is reported once, or no status could be written at all.
  const specObjectives = intent.spec.objectives.filter(
    (o, i, all) => all.findIndex((x) => x.name === o.name) === i,
  );
  const objectives: ObjectiveStatus[] = specObjectives.map((o) => {
    const current = out.values[o.name];
    const g = out.goal[o.name];
    return current === undefined
      ? { name: o.name }
      : { name: o.name, current: +current.toPrecision(6), ...(g ? { met: objectiveMet(current, g) } : {}) };
  });
  const unknown = objectives.filter((o) => o.met === undefined);
  const unmet = objectives.filter((o) => o.met === false);
  const fulfilled: ConditionInput =
    unknown.length > 0
      ? {
          type: CONDITION_FULFILLED,
          status: 'Unknown',
          reason: 'NotObserved',
          message: `not observed: ${unknown.map((o) => o.name).join(', ')}`,
        }
      : unmet.length > 0
        ? {
            type: CONDITION_FULFILLED,
            status: 'False',
            reason: 'ObjectivesNotMet',
            message: unmet.map((o) => describeObjective(o.name, o.current, out.goal[o.name])).join('; '),
          }
        : {
            type: CONDITION_FULFILLED,
            status: 'True',
            reason: 'ObjectivesMet',
            message: objectives.map((o) => describeObjective(o.name, o.current, out.goal[o.name])).join('; '),
          };
  let conditions: Condition[] | undefined = prev.conditions;
  const set = (c: ConditionInput) => {
    conditions = setCondition(conditions, { ...c, observedGeneration: generation }, now);
  };
  set(fulfilled);
  if (!out.keep?.planning || !findCondition(conditions, CONDITION_PLANNING))
    set({ type: CONDITION_PLANNING, ...out.planning });
  const failed = findCondition(conditions, CONDITION_DEGRADED);
  const keepFailed = out.keep?.degraded && failed?.status === 'True' && failed.reason === 'ActuationFailed';
  if (!out.keep?.conflict || !findCondition(conditions, CONDITION_CONFLICT))
    set(
      out.conflict
        ? {
            type: CONDITION_CONFLICT,
            status: 'True',
            reason: 'ConflictingPlans',
            message: out.conflict.message,
          }
        : { type: CONDITION_CONFLICT, status: 'False', reason: 'NoConflict', message: '' },
    );
  if (out.degraded) set({ type: CONDITION_DEGRADED, status: 'True', ...out.degraded });
  else if (!keepFailed)
    set({ type: CONDITION_DEGRADED, status: 'False', reason: out.notDegraded ?? 'Observed', message: '' });
  return {
    ...prev,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    objectives,
    ...(out.lastPlan ? { lastPlan: out.lastPlan } : {}),
  };
}
