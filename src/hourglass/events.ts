import {
  CONDITION_AVAILABLE,
  CONDITION_DEGRADED,
  CONDITION_PROGRESSING,
  type PerformerStatus,
} from '../apis/hourglass.eigenlayer.io/performer.js';
import type { EventType } from '../runtime/events.js';

export interface PerformerEvent {
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

/**
 * The Events a status change is worth: transitions only, so that a reconcile that changes nothing
 * records nothing (`kubectl describe performer` then reads as the Performer's history).
 */
export function performerEvents(
  before: PerformerStatus | undefined,
  after: PerformerStatus | undefined,
): PerformerEvent[] {
  if (!after) return [];
  const events: PerformerEvent[] = [];
  const find = (s: PerformerStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
  const was = find(before, CONDITION_AVAILABLE);
  const is = find(after, CONDITION_AVAILABLE);
  if (after.phase === 'Upgrading' && before?.phase !== 'Upgrading') {
    // status.podName is the Pod still serving; the Progressing condition names the new one.
    const progressing = find(after, CONDITION_PROGRESSING);
    events.push({
      type: 'Normal',
      reason: 'Upgrading',
      action: 'Upgrade',
      note: progressing?.reason === 'Upgrading' ? (progressing.message ?? '') : 'starting a new Pod',
    });
  }
  if (is?.status === 'True' && (was?.status !== 'True' || was.reason !== is.reason)) {
    events.push({ type: 'Normal', reason: 'Ready', action: 'Serve', note: `${after.podName} is Ready` });
  }
  // Problems are warned of from Degraded, which also holds those of an upgrade's new Pod while
  // the old one keeps the Performer Available; statuses without it, from Available.
  const problem = (s: PerformerStatus | undefined) => {
    const degraded = find(s, CONDITION_DEGRADED);
    if (degraded) return degraded.status === 'True' ? degraded : undefined;
    const available = find(s, CONDITION_AVAILABLE);
    return available?.status === 'False' && available.reason !== 'PodPending' ? available : undefined;
  };
  const had = problem(before);
  const has = problem(after);
  if (has && has.reason !== had?.reason) {
    events.push({ type: 'Warning', reason: has.reason, action: 'Reconcile', note: has.message ?? '' });
  }
  return events;
}
