import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeClient } from '../runtime/client/client.js';
import { Pods } from '../runtime/client/kinds.js';
import { watchUntil } from './watch-until.js';

/** What the DisruptionTarget condition's reasons mean, in the words a user reads. */
const DISRUPTIONS: Record<string, string> = {
  EvictionByEvictionAPI: 'was evicted',
  PreemptionByScheduler: 'was preempted by the scheduler',
  DeletionByTaintManager: 'was deleted for a NoExecute taint of its node',
  DeletionByPodGC: 'was deleted by the garbage collector (its node is gone)',
  TerminationByKubelet: 'was stopped by the kubelet (node pressure or shutdown)',
};

/**
 * Why a sandbox's pod can no longer run commands (deleted, evicted, ended), or undefined while it
 * still can. A pod being deleted counts: its container is stopped within the grace period.
 */
export function podLoss(pod: Pod): string | undefined {
  const name = `pod ${pod.metadata?.name ?? '?'}`;
  const node = pod.spec?.nodeName ? ` (node ${pod.spec.nodeName})` : '';
  const disruption = pod.status?.conditions?.find(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True',
  );
  if (disruption) {
    const what =
      DISRUPTIONS[disruption.reason ?? ''] ?? `was disrupted (${disruption.reason ?? 'no reason given'})`;
    return `${name}${node} ${what}${disruption.message ? `: ${disruption.message}` : ''}`;
  }
  if (pod.metadata?.deletionTimestamp) return `${name}${node} was deleted`;
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    const why = [pod.status?.reason, pod.status?.message].filter(Boolean).join(': ');
    return `${name}${node} ended (${phase}${why ? `: ${why}` : ''})`;
  }
  return undefined;
}

/** Watches a sandbox's pod while a command runs, to tell when it is lost. */
export interface PodGuard {
  /** Resolves with why the pod was lost; never rejects (a failing watch just stops guarding). */
  readonly lost: Promise<string>;
  /** Settles once the pod was first looked at (or that failed). */
  readonly checked: Promise<void>;
  /** Why the pod was lost, once known. */
  readonly loss: string | undefined;
  stop(): void;
}

/**
 * Lists then watches one pod (`list`/`watch` on pods, which the sandbox's Role grants) and
 * reports its loss: a deletion started or done, an eviction, the pod ended. An error stops the
 * guard without a verdict, so the command then runs unguarded.
 */
export function guardPod(client: KubeClient, namespace: string, pod: string): PodGuard {
  const abort = new AbortController();
  let loss: string | undefined;
  let markChecked!: () => void;
  const checked = new Promise<void>((resolve) => {
    markChecked = resolve;
  });
  const lost = new Promise<string>((resolve) => {
    watchUntil(
      client,
      Pods,
      {
        namespace,
        fieldSelector: `metadata.name=${pod}`,
        signal: abort.signal,
        onListed: markChecked,
        ifNoneListed: () => `pod ${pod} is gone: it was deleted`,
      },
      (p, deleted) => podLoss(p) ?? (deleted ? `pod ${pod} was deleted` : undefined),
    ).then(
      (reason) => {
        if (abort.signal.aborted) return;
        loss = reason;
        resolve(reason);
      },
      () => markChecked(),
    );
  });
  return {
    lost,
    checked,
    get loss() {
      return loss;
    },
    stop: () => abort.abort(),
  };
}
