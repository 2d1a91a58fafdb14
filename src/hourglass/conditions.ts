import type { Condition } from 'kubernetes-types/meta/v1.js';

/**
 * Sets a condition in a list in the metav1.Condition way: lastTransitionTime moves only when
 * the status changes, so a reconcile that changes nothing writes nothing new.
 */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const previous = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d+Z$/, 'Z');
  const updated: Condition = { ...next, lastTransitionTime };
  return previous ? conditions.map((c) => (c.type === next.type ? updated : c)) : [...conditions, updated];
}
