import type { Job, JobCondition } from 'kubernetes-types/batch/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';

/** Waiting reasons that do not resolve themselves: the image cannot be had or the pod cannot run. */
const FATAL_WAITING_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'CrashLoopBackOff',
  'RunContainerError',
]);

export type PodProgress = { state: 'running' } | { state: 'failed'; reason: string } | { state: 'pending' };

/** Where a sandbox pod stands on its way to Running, and why it will never get there if so. */
export function podProgress(pod: Pod): PodProgress {
  const name = pod.metadata?.name ?? 'pod';
  for (const s of pod.status?.containerStatuses ?? []) {
    const waiting = s.state?.waiting;
    if (waiting?.reason && FATAL_WAITING_REASONS.has(waiting.reason)) {
      return {
        state: 'failed',
        reason: `pod ${name}: container ${s.name} (image ${s.image}): ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
      };
    }
  }
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    return { state: 'failed', reason: `pod ${name} ended (${phase}) before it could be used` };
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      state: 'failed',
      reason: `pod ${name} cannot be scheduled: ${scheduled.message ?? 'no node fits'}`,
    };
  }
  if (phase === 'Running' && !pod.metadata?.deletionTimestamp) return { state: 'running' };
  return { state: 'pending' };
}

/**
 * The condition saying a sandbox Job is finished, or is being finished: FailureTarget comes first,
 * while the Job controller still stops its Pods (DeadlineExceeded, say); Failed once they are gone.
 */
export function jobEnd(job: Job): JobCondition | undefined {
  const ends = (job.status?.conditions ?? []).filter(
    (c) =>
      (c.type === 'Failed' || c.type === 'Complete' || c.type === 'FailureTarget') && c.status === 'True',
  );
  return ends.find((c) => c.type !== 'FailureTarget') ?? ends[0];
}

/** Why a sandbox Job is finished (failed, deadline exceeded, …), or undefined while it is active. */
export function jobFailure(job: Job): string | undefined {
  const c = jobEnd(job);
  if (!c) return undefined;
  const type = c.type === 'FailureTarget' ? 'Failed' : c.type;
  return `job ${job.metadata?.name} finished (${type}${c.reason ? `: ${c.reason}` : ''}${c.message ? `, ${c.message}` : ''})`;
}
