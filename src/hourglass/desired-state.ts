import { createHash } from 'node:crypto';
import type { Container, EnvFromSource, EnvVar, Pod, PodSpec, Service } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import {
  DEFAULT_GRPC_PORT,
  PERFORMER_API_VERSION,
  type Performer,
} from '../apis/hourglass.eigenlayer.io/performer.js';
import { hardwareNeeds } from './hardware.js';

/** Labels every performer Pod and Service carries (the seed's names). */
export const LABEL_APP = 'app';
export const APP_NAME = 'hourglass-performer';
export const LABEL_PERFORMER = 'hourglass.eigenlayer.io/performer';
export const LABEL_AVS = 'hourglass.eigenlayer.io/avs';
/** Which revision of the Performer's Pod template a Pod runs; the Service selects one revision. */
export const LABEL_REVISION = 'hourglass.eigenlayer.io/revision';
/**
 * `unrestricted` on a Performer drops the restricted security context from its Pod, for images
 * that must run as root; anything else (or nothing) keeps it.
 */
export const ANNOTATION_SECURITY_PROFILE = 'hourglass.eigenlayer.io/security-profile';

export const CONTAINER_NAME = 'performer';
export const PORT_NAME = 'grpc';

/**
 * The `hourglass.eigenlayer.io/avs` label value, valid for any avsAddress: lower-cased, `_` → `-`,
 * any other character a label value may not hold → `-`, at most 63 characters, and no
 * non-alphanumeric character at either end. A value that was already valid is kept as it was.
 */
export function avsLabelValue(avsAddress: string): string {
  return avsAddress
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

export function serviceName(performerName: string): string {
  return `performer-${performerName}`;
}

/** `performer-<name>`, and `performer-<name>-<revision>` for the Pod an upgrade starts. */
export function podName(performerName: string, revision?: string): string {
  return revision ? `performer-${performerName}-${revision}` : `performer-${performerName}`;
}

export function grpcPort(performer: Performer): number {
  return performer.spec.config?.grpcPort ?? DEFAULT_GRPC_PORT;
}

/**
 * The stable address executors dial: `performer-<name>.<namespace>.svc.cluster.local:<port>`, on
 * the spec's port unless told the port the Service carries.
 */
export function grpcEndpoint(performer: Performer, port = grpcPort(performer)): string {
  const { name, namespace } = performerRef(performer);
  return `${serviceName(name)}.${namespace}.svc.cluster.local:${port}`;
}

/** The labels selecting all of a Performer's Pods (every revision). */
export function performerSelector(performer: Performer): Record<string, string> {
  return { [LABEL_APP]: APP_NAME, [LABEL_PERFORMER]: performerRef(performer).name };
}

function baseLabels(performer: Performer): Record<string, string> {
  return { ...performerSelector(performer), [LABEL_AVS]: avsLabelValue(performer.spec.avsAddress) };
}

export function ownerReference(performer: Performer): OwnerReference {
  const { name } = performerRef(performer);
  const uid = performer.metadata?.uid;
  if (!uid)
    throw new Error(`Performer ${name} has no metadata.uid: build its children from the stored object`);
  return {
    apiVersion: PERFORMER_API_VERSION,
    kind: 'Performer',
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The image the container runs: `image:version` when the image names no tag or digest and a
 * version is given, otherwise the image as written.
 */
export function containerImage(performer: Performer): string {
  const { image, version } = performer.spec;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const hasTagOrDigest = lastSegment.includes(':') || image.includes('@');
  return version && !hasTagOrDigest ? `${image}:${version}` : image;
}

/** The Pod spec a Performer asks for; its hash is the revision. */
export function performerPodSpec(performer: Performer): PodSpec {
  const { spec } = performer;
  const port = grpcPort(performer);
  const hw = hardwareNeeds(spec.hardwareRequirements);
  const scheduling = spec.scheduling ?? {};
  const config = spec.config ?? {};

  const env: EnvVar[] = Object.entries(config.environment ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));
  const envFrom: EnvFromSource[] = [];
  for (const source of config.environmentFrom ?? []) {
    if (source.name && source.valueFrom) env.push({ name: source.name, valueFrom: source.valueFrom });
    else if (source.secretRef || source.configMapRef)
      envFrom.push({
        ...(source.prefix ? { prefix: source.prefix } : {}),
        ...(source.secretRef ? { secretRef: source.secretRef } : {}),
        ...(source.configMapRef ? { configMapRef: source.configMapRef } : {}),
      });
  }

  const requests = { ...(spec.resources?.requests ?? {}), ...hw.resources };
  const limits = { ...(spec.resources?.limits ?? {}), ...hw.resources };
  const restricted = performer.metadata?.annotations?.[ANNOTATION_SECURITY_PROFILE] !== 'unrestricted';
  const probe = (initialDelaySeconds: number, periodSeconds: number) => ({
    grpc: { port, service: '' },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: 3,
  });
  const container: Container = {
    name: CONTAINER_NAME,
    image: containerImage(performer),
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    ...(config.command?.length ? { command: config.command } : {}),
    ...(config.args?.length ? { args: config.args } : {}),
    ports: [{ name: PORT_NAME, containerPort: port, protocol: 'TCP' }],
    ...(env.length ? { env } : {}),
    ...(envFrom.length ? { envFrom } : {}),
    ...(Object.keys(requests).length || Object.keys(limits).length
      ? {
          resources: {
            ...(Object.keys(requests).length ? { requests } : {}),
            ...(Object.keys(limits).length ? { limits } : {}),
          },
        }
      : {}),
    livenessProbe: probe(10, 10),
    readinessProbe: probe(5, 5),
    ...(restricted
      ? {
          securityContext: {
            allowPrivilegeEscalation: false,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        }
      : {}),
  };

  const tolerations = [...(scheduling.tolerations ?? [])];
  for (const t of hw.tolerations) {
    if (!tolerations.some((u) => u.key === t.key && (u.effect ?? t.effect) === t.effect)) tolerations.push(t);
  }
  const nodeSelector = { ...(scheduling.nodeSelector ?? {}), ...hw.nodeSelector };
  return {
    containers: [container],
    restartPolicy: 'Always',
    ...(config.serviceAccountName ? { serviceAccountName: config.serviceAccountName } : {}),
    ...(spec.imagePullSecrets?.length ? { imagePullSecrets: spec.imagePullSecrets } : {}),
    ...(Object.keys(nodeSelector).length ? { nodeSelector } : {}),
    ...(tolerations.length ? { tolerations } : {}),
    ...(scheduling.affinity ? { affinity: scheduling.affinity } : {}),
    ...(scheduling.runtimeClass ? { runtimeClassName: scheduling.runtimeClass } : {}),
    ...(scheduling.priorityClassName ? { priorityClassName: scheduling.priorityClassName } : {}),
    ...(restricted
      ? { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } }
      : {}),
  };
}

/** A short hash of the Pod spec: a new value means a new Pod (an upgrade). */
export function podRevision(spec: PodSpec): string {
  return createHash('sha256').update(stableJson(spec)).digest('hex').slice(0, 10);
}

/**
 * The Pod for a Performer: `performer-<name>`, or with `suffixed` the revision-suffixed name an
 * upgrade uses while the previous Pod still serves.
 */
export function buildPerformerPod(performer: Performer, opts: { suffixed?: boolean } = {}): Pod {
  const { name, namespace } = performerRef(performer);
  const spec = performerPodSpec(performer);
  const revision = podRevision(spec);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(name, opts.suffixed ? revision : undefined),
      namespace,
      // The Performer's own labels may not override the ones that select and identify the Pod.
      labels: {
        ...(performer.spec.hardwareRequirements?.customLabels ?? {}),
        ...baseLabels(performer),
        [LABEL_REVISION]: revision,
      },
      ownerReferences: [ownerReference(performer)],
    },
    spec,
  };
}

/** The Service `performer-<name>`, selecting the Pod of `revision` (the one that serves). */
export function buildPerformerService(performer: Performer, revision: string): Service {
  const { name, namespace } = performerRef(performer);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: serviceName(name),
      namespace,
      labels: baseLabels(performer),
      ownerReferences: [ownerReference(performer)],
    },
    spec: {
      type: 'ClusterIP',
      selector: { ...performerSelector(performer), [LABEL_REVISION]: revision },
      ports: [{ name: PORT_NAME, port: grpcPort(performer), targetPort: PORT_NAME, protocol: 'TCP' }],
    },
  };
}

export function performerRef(performer: Performer): { name: string; namespace: string } {
  const name = performer.metadata?.name;
  const namespace = performer.metadata?.namespace;
  if (!name || !namespace) throw new Error('a Performer needs metadata.name and metadata.namespace');
  return { name, namespace };
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
