import { CONDITION_AVAILABLE, type PerformerStatus } from '../apis/hourglass.eigenlayer.io/performer.js';
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
  const was = before?.conditions?.find((c) => c.type === CONDITION_AVAILABLE);
  const is = after.conditions?.find((c) => c.type === CONDITION_AVAILABLE);
  if (after.phase === 'Upgrading' && before?.phase !== 'Upgrading') {
    events.push({
      type: 'Normal',
      reason: 'Upgrading',
      action: 'Upgrade',
      note: `starting ${after.podName}`,
    });
  }
  if (is && (is.status !== was?.status || is.reason !== was?.reason)) {
    if (is.status === 'True') {
      events.push({ type: 'Normal', reason: 'Ready', action: 'Serve', note: `${after.podName} is Ready` });
    } else if (is.reason !== 'PodPending') {
      events.push({ type: 'Warning', reason: is.reason, action: 'Reconcile', note: is.message ?? '' });
    }
  }
  return events;
}
