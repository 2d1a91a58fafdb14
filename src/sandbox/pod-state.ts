import type { Job } from 'kubernetes-types/batch/v1.js';
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

/** Why a sandbox Job is finished (failed, deadline exceeded, …), or undefined while it is active. */
export function jobFailure(job: Job): string | undefined {
  for (const c of job.status?.conditions ?? []) {
    if ((c.type === 'Failed' || c.type === 'Complete') && c.status === 'True') {
      return `job ${job.metadata?.name} finished (${c.type}${c.reason ? `: ${c.reason}` : ''}${c.message ? `, ${c.message}` : ''})`;
    }
  }
  return undefined;
}
