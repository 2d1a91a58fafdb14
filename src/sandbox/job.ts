import type { Job } from 'kubernetes-types/batch/v1.js';
import type { ResourceRequirements } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';

/** The label every sandbox Job and Pod carries (`kubectl get jobs -l app=ci-fixer-sandbox`). */
export const SANDBOX_LABEL = { app: 'ci-fixer-sandbox' } as const;
export const SANDBOX_SERVICE_ACCOUNT = 'ci-fixer-sandbox';
export const SANDBOX_CONTAINER = 'sandbox';
/** Finished Jobs (and their Pods) are garbage-collected 5 minutes later, as the seed specifies. */
export const DEFAULT_TTL_SECONDS_AFTER_FINISHED = 300;
/** A sandbox lives at most one hour: the backstop when its owner dies without tearing it down. */
export const DEFAULT_ACTIVE_DEADLINE_SECONDS = 3600;
export const DEFAULT_WORKDIR = '/workspace';
/** Non-root uid/gid of the sandbox (the restricted Pod Security profile forbids root). */
export const SANDBOX_UID = 1000;
/**
 * kwok's simulated kubelet completes Job pods unless this annotation holds them; real kubelets
 * ignore it. Sandboxes must stay Running until teardown or their deadline.
 */
export const KWOK_COMPLETE_DELAY_ANNOTATION = 'pod-complete.stage.kwok.x-k8s.io/delay';

export interface SandboxJobSpec {
  name: string;
  namespace: string;
  image: string;
  resources?: ResourceRequirements;
  /** nvidia.com/gpu devices; adds the toleration for the GPU nodes' taint. */
  gpus?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  serviceAccountName?: string;
  workdir?: string;
  labels?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  /** The Job's owners: the garbage collector deletes it (and its Pod) when they are deleted. */
  ownerReferences?: OwnerReference[];
}

/** The Job that holds one sandbox: a single Pod idling until commands are exec'd into it. */
export function sandboxJob(spec: SandboxJobSpec): Job {
  const deadline = spec.activeDeadlineSeconds ?? DEFAULT_ACTIVE_DEADLINE_SECONDS;
  const workdir = spec.workdir ?? DEFAULT_WORKDIR;
  const labels = { ...spec.labels, ...SANDBOX_LABEL };
  const resources: ResourceRequirements = structuredClone(spec.resources ?? {});
  if (spec.gpus) {
    resources.limits = { ...resources.limits, 'nvidia.com/gpu': String(spec.gpus) };
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels,
      ...(spec.ownerReferences?.length ? { ownerReferences: spec.ownerReferences } : {}),
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: deadline,
      ttlSecondsAfterFinished: spec.ttlSecondsAfterFinished ?? DEFAULT_TTL_SECONDS_AFTER_FINISHED,
      template: {
        metadata: {
          labels,
          // Longer than the deadline, so the Job controller, not the simulator, ends the pod.
          annotations: { [KWOK_COMPLETE_DELAY_ANNOTATION]: `${deadline + 60}s` },
        },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: spec.serviceAccountName ?? SANDBOX_SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SANDBOX_UID,
            runAsGroup: SANDBOX_UID,
            fsGroup: SANDBOX_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.gpus
            ? {
                tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' as const }],
              }
            : {}),
          containers: [
            {
              name: SANDBOX_CONTAINER,
              image: spec.image,
              // Idle until commands arrive through exec; exit promptly on SIGTERM.
              command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
              workingDir: workdir,
              env: [{ name: 'HOME', value: workdir }],
              resources,
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'workspace', mountPath: workdir },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'workspace', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}
