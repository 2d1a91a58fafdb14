import { isDeepStrictEqual } from 'node:util';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Condition } from 'kubernetes-types/meta/v1.js';
import {
  CONDITION_AVAILABLE,
  CONDITION_DEGRADED,
  CONDITION_PROGRESSING,
  PERFORMER_FINALIZER,
  type Performer,
  type PerformerPhase,
  type PerformerStatus,
  Performers,
} from '../apis/hourglass.eigenlayer.io/performer.js';
import type { KubeClient } from '../runtime/client/client.js';
import {
  ForbiddenError,
  InvalidError,
  isAlreadyExists,
  isConflict,
  isNamespaceTerminating,
  isNotFound,
} from '../runtime/client/errors.js';
import { Nodes, Pods, Services } from '../runtime/client/kinds.js';
import { setCondition } from './conditions.js';
import {
  buildPerformerPod,
  buildPerformerService,
  grpcEndpoint,
  LABEL_REVISION,
  PORT_NAME,
  performerRef,
  performerSelector,
  podName,
  serviceName,
} from './desired-state.js';
import { hostingCheck } from './hardware.js';

/** How many times a Pod of this revision was recreated after failing or staying Pending. */
export const ANNOTATION_RECREATIONS = 'hourglass.eigenlayer.io/recreations';

export interface ReconcileOptions {
  now?: () => Date;
  /** A Pod Pending longer than this is recreated (5 min). */
  pendingTimeoutMs?: number;
  /**
   * How long a Performer whose Pod is merely starting goes without conditions (10 s): the
   * CRD's status default already reads Pending, and most Pods are Ready sooner, so that one status
   * write says Running instead of two saying Pending, then Running. Problems are written at once.
   */
  pendingStatusDelayMs?: number;
  /** Wait before recreating a Pod: 10 s, doubling with each recreation, up to 5 min. */
  recreateBackoffMs?: number;
  maxRecreateBackoffMs?: number;
  /**
   * How long past its deletion deadline a Pod still terminating keeps the plain Pod name from its
   * replacement (30 s). A Pod on a lost node stays terminating as long as the Node object does;
   * past this its replacement takes the revision's name instead of waiting for it.
   */
  terminatingWaitMs?: number;
  /** The cluster's Nodes, for the hosting check; listed when absent (a controller passes its cache). */
  nodes?: readonly Node[];
  /**
   * The Performer's Pods and its Service from a controller's caches; read from the API server
   * when absent. The caches may lag a write this reconcile made, which is safe: a create that
   * collides is AlreadyExists, and the write's own event brings another reconcile.
   */
  cache?: {
    pods(performer: Performer): readonly Pod[];
    service(namespace: string, name: string): Service | undefined;
  };
  /**
   * Told of every object a write returned, and whether the write created it, so that the caches
   * above can show it before their watch does (see OwnWrites).
   */
  wrote?: (obj: Performer | Pod | Service, created: boolean) => void;
}

export const DEFAULT_PENDING_TIMEOUT_MS = 300_000;
export const DEFAULT_RECREATE_BACKOFF_MS = 10_000;
export const DEFAULT_PENDING_STATUS_DELAY_MS = 10_000;
export const DEFAULT_MAX_RECREATE_BACKOFF_MS = 300_000;
export const DEFAULT_TERMINATING_WAIT_MS = 30_000;
/** After a status write refused as stale: a fallback, the newer version's event comes sooner. */
const CONFLICT_RETRY_MS = 1000;

export interface ReconcileResult {
  /** The status written (or that would be, for a Performer being deleted). */
  status?: PerformerStatus;
  /** Call again after this long even if nothing changes (a Pending deadline, a backoff). */
  requeueAfterMs?: number;
  /** The Performer is gone from the operator's point of view: finalizer removed. */
  finalized?: boolean;
  /**
   * Why a Pod or Service could not be made although the spec is valid (a 403: a ServiceAccount
   * the namespace lacks, say). The status says so already; the caller retries with backoff, as
   * nothing about the Performer itself will change when the cause is fixed.
   */
  failedCreate?: ForbiddenError;
  /**
   * Why the Terminating status of a Performer being deleted could not be written (a 403: a role
   * without performers/status, say). The deletion went on without it; the caller makes it seen.
   */
  statusFailure?: Error;
}

const IMAGE_PULL_FAILURES = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
]);

/** A container that starts and dies, or cannot be started as configured (a missing Secret key). */
const CONTAINER_FAILURES = new Set([
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/**
 * Drives one Performer's Pod and Service toward its spec and reports status: the reconcile step of
 * the Performer controller, over a plain client. Zero-downtime upgrades: a new revision gets its
 * own Pod, the Service keeps selecting the old one until the new one is Ready, then switches and
 * the old Pod is deleted. Failed Pods, and Pods Pending past the limit, are recreated with backoff.
 */
export async function reconcilePerformer(
  client: KubeClient,
  performer: Performer,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const now = options.now?.() ?? new Date();
  const { name, namespace } = performerRef(performer);
  const selector = labelSelector(performerSelector(performer));

  const wrote = options.wrote ?? (() => {});
  if (performer.metadata?.deletionTimestamp) return finalize(client, performer, selector, wrote);

  // The finalizer lands before any child exists, so that no Pod or Service can outlive its Performer.
  if (!performer.metadata?.finalizers?.includes(PERFORMER_FINALIZER)) {
    performer = await client.patch(Performers, name, namespace, {
      metadata: {
        finalizers: [...(performer.metadata?.finalizers ?? []), PERFORMER_FINALIZER],
        resourceVersion: performer.metadata?.resourceVersion,
      },
    });
    wrote(performer, false);
  }

  const desired = buildPerformerPod(performer);
  const revision = desired.metadata!.labels![LABEL_REVISION]!;
  const allPods = async () =>
    options.cache
      ? options.cache.pods(performer)
      : (await client.list(Pods, { namespace, labelSelector: selector })).items;
  let pods = (await allPods()).filter((p) => !p.metadata?.deletionTimestamp);
  let current = pods.find((p) => p.metadata?.labels?.[LABEL_REVISION] === revision);
  const older = () => pods.filter((p) => p.metadata?.labels?.[LABEL_REVISION] !== revision);
  let lastUpgrade = performer.status?.lastUpgrade;
  let requeueAfterMs: number | undefined;

  // Why the API server refused the Pod or Service this spec asks for. Invalid (422): no retry
  // makes it valid, so it is reported, and the next change to the spec tries again. Forbidden
  // (403): reported, and retried, as what forbids it may change without the Performer.
  let invalid: string | undefined;
  let forbidden: ForbiddenError | undefined;
  const refused = <T>(err: unknown): T | undefined => {
    if (err instanceof InvalidError) invalid ??= err.message;
    else if (err instanceof ForbiddenError && !isNamespaceTerminating(err)) forbidden ??= err;
    else throw err;
    return undefined;
  };
  let creating: Promise<Pod | undefined> | undefined;
  // A Pod of this revision that failed, or waited too long for a node, is replaced after a backoff.
  if (current) {
    const stuck = stuckFor(current, now, options);
    if (stuck !== undefined) {
      const recreations = Number(current.metadata?.annotations?.[ANNOTATION_RECREATIONS] ?? 0);
      const wait = Math.min(
        (options.recreateBackoffMs ?? DEFAULT_RECREATE_BACKOFF_MS) * 2 ** recreations,
        options.maxRecreateBackoffMs ?? DEFAULT_MAX_RECREATE_BACKOFF_MS,
      );
      if (stuck >= wait) {
        await client.delete(Pods, current.metadata!.name!, namespace, { gracePeriodSeconds: 0 });
        // The replacement takes the other name, so as not to meet the deleted Pod if it lingers;
        // in an upgrade the serving Pod holds the other name, and the deleted one's (gone at once
        // with no grace period) is taken again, so that the recreation count carries on.
        const allNames = pods.map((p) => p.metadata!.name!);
        const taken = [podName(name), podName(name, revision)].every((n) => allNames.includes(n))
          ? allNames.filter((n) => n !== current!.metadata!.name)
          : allNames;
        pods = pods.filter((p) => p !== current);
        current = await createPod(client, performer, desired, taken, recreations + 1).catch(refused<Pod>);
        if (current) {
          wrote(current, true);
          pods.push(current);
        }
      } else requeueAfterMs = wait - stuck;
    }
  } else {
    // About to create. With no Pod at all in sight the plain name is the one to take, and a
    // collision with a Pod the cache has not seen yet is AlreadyExists. Otherwise ask the API
    // server, not a cache that may lag, which Pods there are, so that a Pod just made is not made
    // twice under the other name and a name just freed is used again.
    const seen = await allPods();
    const listed =
      options.cache && seen.length === 0
        ? []
        : (await client.list(Pods, { namespace, labelSelector: selector })).items;
    pods = listed.filter((p) => !p.metadata?.deletionTimestamp);
    current = pods.find((p) => p.metadata?.labels?.[LABEL_REVISION] === revision);
    if (!current) {
      const upgrade = older().length > 0;
      if (upgrade) lastUpgrade = now.toISOString().replace(/\.\d+Z$/, 'Z');
      const taken = listed.map((p) => p.metadata!.name!);
      // Outside an upgrade the Pod keeps its plain name: one still terminating is waited for,
      // unless it is stuck (its node lost, say), when the replacement takes the other name.
      const holder = listed.find((p) => p.metadata?.name === podName(name));
      const waitLeft = holder && !upgrade ? terminatingWaitLeft(holder, now, options) : 0;
      if (waitLeft > 0) requeueAfterMs = Math.min(waitLeft, 1000);
      // Sent without waiting: the Service's selector below does not depend on it, as a Pod just
      // created is not Ready, so both go to the API server at once.
      else creating = createPod(client, performer, desired, taken, 0).catch(refused<Pod>);
    }
  }

  // The Service selects the newest Ready revision; until the new Pod is Ready, the old one.
  const currentReady = current !== undefined && isReady(current);
  const readyOld = older().find(isReady);
  const service = options.cache
    ? options.cache.service(namespace, serviceName(name))
    : await client.find(Services, serviceName(name), namespace);
  const selected = service?.spec?.selector?.[LABEL_REVISION];
  const servingRevision = currentReady
    ? revision
    : (readyOld?.metadata?.labels?.[LABEL_REVISION] ??
      (selected && pods.some((p) => p.metadata?.labels?.[LABEL_REVISION] === selected)
        ? selected
        : revision));
  const wantedService = buildPerformerService(performer, servingRevision);
  const applying = !service
    ? createService(client, wantedService).catch(refused<Service>)
    : !routes(service, wantedService)
      ? restoreService(client, service, wantedService).catch(refused<Service>)
      : undefined;
  const [newPod, applied] = await Promise.all([creating, applying]);
  if (newPod) {
    wrote(newPod, true);
    current = newPod;
    pods.push(newPod);
  }
  if (applied) wrote(applied, !service);
  // The endpoint announces the port the Service carries once this reconcile's write is done (a
  // refused write leaves the Service as it was), never one it does not carry yet.
  const servicePort = (applied ?? service)?.spec?.ports?.find((p) => p.name === PORT_NAME)?.port;
  if (currentReady) {
    for (const old of older()) await client.delete(Pods, old.metadata!.name!, namespace);
    pods = current ? [current] : [];
  }

  const serving = pods.find((p) => p.metadata?.labels?.[LABEL_REVISION] === servingRevision && isReady(p));
  const nodes = options.nodes ?? (await client.list(Nodes)).items;
  const status = performerStatus(performer, {
    now,
    current,
    serving,
    upgrading: !currentReady && older().length > 0,
    lastUpgrade,
    hosting: currentReady ? undefined : hostingCheck(desired, nodes),
    invalid,
    forbidden: forbidden?.message,
    newPodName: podName(name, revision),
    servicePort,
  });
  if (current && !currentReady && current.status?.phase !== 'Failed') {
    // Past the limit the recreation backoff above decides; a zero here would requeue in a hot loop.
    const pendingLeft =
      (options.pendingTimeoutMs ?? DEFAULT_PENDING_TIMEOUT_MS) - (now.getTime() - created(current).getTime());
    if (pendingLeft > 0) requeueAfterMs = Math.min(requeueAfterMs ?? Number.POSITIVE_INFINITY, pendingLeft);
  }
  const reportIn =
    current && !performer.status?.conditions ? untilReported(status, current, now, options) : 0;
  if (reportIn > 0) requeueAfterMs = Math.min(requeueAfterMs ?? Number.POSITIVE_INFINITY, reportIn);
  else if (!isDeepStrictEqual(status, performer.status)) {
    // A PUT of the object as read, rather than a patch: the API server spends ~25% less CPU on it
    // than on a merge patch, and ~40% less than on server-side apply (bench/hourglass/writes.ts).
    // Its resourceVersion makes it conditional: a status computed from an object that changed
    // since is refused, and the change's own event brings the next reconcile. managedFields are
    // left out; the server keeps its own.
    const { managedFields: _, ...metadata } = performer.metadata ?? {};
    try {
      wrote(await client.replaceStatus({ ...performer, metadata, status }), false);
    } catch (err) {
      if (!isConflict(err)) throw err;
      return { status: performer.status, requeueAfterMs: CONFLICT_RETRY_MS };
    }
  }
  return {
    status,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
    ...(forbidden ? { failedCreate: forbidden } : {}),
  };
}

async function finalize(
  client: KubeClient,
  performer: Performer,
  selector: string,
  wrote: NonNullable<ReconcileOptions['wrote']>,
): Promise<ReconcileResult> {
  const { name, namespace } = performerRef(performer);
  if (!performer.metadata?.finalizers?.includes(PERFORMER_FINALIZER)) return { finalized: true };
  let resourceVersion = performer.metadata.resourceVersion;
  let statusFailure: Error | undefined;
  if (performer.status?.phase !== 'Terminating') {
    // A PUT like every other status write: the role needs update on performers/status, no patch.
    const { managedFields: _, ...metadata } = performer.metadata;
    try {
      const updated = await client.replaceStatus<Performer>({
        ...performer,
        metadata,
        status: { ...performer.status, phase: 'Terminating', ready: false },
      });
      wrote(updated, false);
      // The finalizer's removal below is conditioned on the version this write made.
      resourceVersion = updated.metadata?.resourceVersion ?? resourceVersion;
    } catch (err) {
      // The phase is a report, not a step: a deletion never waits on it, or a role without
      // performers/status would hold every Performer forever. A stale read (the finalizer patch
      // below is refused too, and retried) or a Performer gone needs no word; anything else is
      // returned, so that a 403 is logged and recorded rather than lost.
      if (!isConflict(err) && !isNotFound(err))
        statusFailure = err instanceof Error ? err : new Error(String(err));
    }
  }
  const failure = statusFailure ? { statusFailure } : {};
  await client.delete(Services, serviceName(name), namespace);
  const pods = (await client.list(Pods, { namespace, labelSelector: selector })).items;
  for (const pod of pods)
    await client.delete(Pods, pod.metadata!.name!, namespace, { gracePeriodSeconds: 0 });
  if ((await client.list(Pods, { namespace, labelSelector: selector })).items.length > 0) {
    return { status: { ...performer.status, phase: 'Terminating' }, requeueAfterMs: 1000, ...failure };
  }
  try {
    await client.patch(Performers, name, namespace, {
      metadata: {
        finalizers: performer.metadata.finalizers.filter((f) => f !== PERFORMER_FINALIZER),
        resourceVersion,
      },
    });
  } catch (err) {
    // Gone already: a reconcile that read it before its last finalize landed.
    if (!isNotFound(err)) throw err;
  }
  return { finalized: true, ...failure };
}

/**
 * Creates the Service: a create costs the API server less than an apply. One the cache has not
 * seen yet is applied.
 */
async function createService(client: KubeClient, service: Service): Promise<Service> {
  try {
    return await client.create(service);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return client.apply(service, { fieldManager: client.fieldManager });
  }
}

/** Creates the Pod under the first free name: the plain one first, the revision-suffixed one when others exist. */
async function createPod(
  client: KubeClient,
  performer: Performer,
  desired: Pod,
  takenNames: readonly string[],
  recreations: number,
): Promise<Pod | undefined> {
  const { name } = performerRef(performer);
  const revision = desired.metadata!.labels![LABEL_REVISION]!;
  const candidates =
    takenNames.length === 0
      ? [podName(name), podName(name, revision)]
      : [podName(name, revision), podName(name)];
  // Neither name free (both held by Pods still terminating): nothing is made, the next reconcile retries.
  for (const free of candidates.filter((c) => !takenNames.includes(c))) {
    const pod: Pod = {
      ...desired,
      metadata: {
        ...desired.metadata,
        name: free,
        ...(recreations ? { annotations: { [ANNOTATION_RECREATIONS]: String(recreations) } } : {}),
      },
    };
    try {
      return await client.create(pod);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // A Pod of this Performer the list did not show yet is ours: made already. One that does not
    // carry its labels (relabelled, or not its own) is left alone, and the other name is taken.
    const existing = await client.find(Pods, free, desired.metadata!.namespace!);
    const labels = existing?.metadata?.labels ?? {};
    if (!existing || Object.entries(performerSelector(performer)).every(([k, v]) => labels[k] === v))
      return undefined;
  }
  return undefined;
}

/**
 * How long the first status of a Performer may wait: until `pendingStatusDelayMs` after its Pod
 * was made, when all there is to say is that the Pod is starting; zero when there is more.
 */
function untilReported(status: PerformerStatus, pod: Pod, now: Date, options: ReconcileOptions): number {
  const available = status.conditions?.find((c) => c.type === CONDITION_AVAILABLE);
  if (status.phase !== 'Pending' || available?.reason !== 'PodPending') return 0;
  const delay = options.pendingStatusDelayMs ?? DEFAULT_PENDING_STATUS_DELAY_MS;
  // Clamped: a clock behind the API server's must not stretch the wait.
  return Math.min(delay, Math.max(0, delay - (now.getTime() - created(pod).getTime())));
}

/**
 * How much longer a replacement waits for `pod`'s name: until `terminatingWaitMs` past its deletion
 * deadline (its deletionTimestamp), forever for a Pod not being deleted (its own reconcile decides).
 */
function terminatingWaitLeft(pod: Pod, now: Date, options: ReconcileOptions): number {
  const deadline = pod.metadata?.deletionTimestamp;
  if (!deadline) return Number.POSITIVE_INFINITY;
  const wait = options.terminatingWaitMs ?? DEFAULT_TERMINATING_WAIT_MS;
  return Math.max(0, new Date(deadline).getTime() + wait - now.getTime());
}

/** How long the Pod has been Failed, or Pending past the limit; undefined when it is neither. */
function stuckFor(pod: Pod, now: Date, options: ReconcileOptions): number | undefined {
  if (pod.status?.phase === 'Failed') {
    const since = pod.status.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
    return Math.max(0, now.getTime() - (since ? new Date(since) : created(pod)).getTime());
  }
  if (pod.status?.phase === 'Pending' || !pod.status?.phase) {
    const pendingFor = now.getTime() - created(pod).getTime();
    const limit = options.pendingTimeoutMs ?? DEFAULT_PENDING_TIMEOUT_MS;
    if (pendingFor >= limit) return pendingFor - limit;
  }
  return undefined;
}

function performerStatus(
  performer: Performer,
  s: {
    now: Date;
    current: Pod | undefined;
    serving: Pod | undefined;
    upgrading: boolean;
    lastUpgrade: string | undefined;
    hosting: { hostable: boolean; message: string } | undefined;
    /** The API server's reason for refusing the Pod or Service as invalid. */
    invalid?: string | undefined;
    /** The API server's reason for forbidding the Pod or Service. */
    forbidden?: string | undefined;
    /** The name an upgrade's Pod takes, for when it is not made yet. */
    newPodName: string;
    /** The port the Service carries; no endpoint is announced without one. */
    servicePort: number | undefined;
  },
): PerformerStatus {
  const { name } = performerRef(performer);
  const ready = s.serving !== undefined;
  const failed = s.current?.status?.phase === 'Failed';
  const waiting = (reasons: Set<string>) =>
    s.current?.status?.containerStatuses?.find(
      (c) => c.state?.waiting?.reason && reasons.has(c.state.waiting.reason),
    );
  const pullFailure = waiting(IMAGE_PULL_FAILURES)?.state?.waiting;
  const containerFailure = waiting(CONTAINER_FAILURES);
  const podLabel = s.current
    ? `Pod ${s.current.metadata?.name}`
    : s.upgrading
      ? `Pod ${s.newPodName}`
      : 'the Pod';

  let phase: PerformerPhase;
  // A spec the API server refuses fails, though a Pod of an earlier spec may still serve.
  if (s.invalid) phase = 'Failed';
  else if (s.upgrading) phase = 'Upgrading';
  else if (ready) phase = 'Running';
  else if (failed) phase = 'Failed';
  else phase = 'Pending';

  let notReady: { reason: string; message: string };
  if (s.invalid) notReady = { reason: 'InvalidSpec', message: s.invalid };
  else if (s.forbidden) notReady = { reason: 'FailedCreate', message: s.forbidden };
  else if (s.hosting && !s.hosting.hostable)
    notReady = { reason: 'HardwareUnavailable', message: s.hosting.message };
  else if (pullFailure)
    notReady = {
      reason: 'ImagePullFailed',
      message: `${podLabel}: ${pullFailure.reason}: ${pullFailure.message ?? ''}`.trim(),
    };
  else if (containerFailure) {
    const { reason, message } = containerFailure.state!.waiting!;
    const exitCode = containerFailure.lastState?.terminated?.exitCode;
    notReady = {
      reason: 'ContainerFailing',
      message: `${podLabel}: container ${containerFailure.name}: ${reason}${message ? `: ${message}` : ''}${
        exitCode !== undefined ? ` (last exit code ${exitCode})` : ''
      }`,
    };
  } else if (failed)
    notReady = {
      reason: 'PodFailed',
      message: `${podLabel} failed: ${s.current?.status?.message ?? s.current?.status?.reason ?? 'no reason given'}`,
    };
  else notReady = { reason: 'PodPending', message: `waiting for ${podLabel} to be Ready` };

  const generation = performer.metadata?.generation;
  let conditions: Condition[] = performer.status?.conditions ?? [];
  conditions = setCondition(
    conditions,
    ready
      ? {
          type: CONDITION_AVAILABLE,
          status: 'True',
          reason: 'PodReady',
          message: `Pod ${s.serving?.metadata?.name} is Ready`,
          observedGeneration: generation,
        }
      : { type: CONDITION_AVAILABLE, status: 'False', ...notReady, observedGeneration: generation },
    s.now,
  );
  let progressing: Pick<Condition, 'status' | 'reason' | 'message'>;
  if (s.invalid) progressing = { status: 'False', ...notReady };
  else if (s.upgrading) {
    const serving = s.serving ? `Pod ${s.serving.metadata?.name}` : 'the serving Pod';
    progressing = {
      status: 'True',
      reason: 'Upgrading',
      message: `${podLabel} replaces ${serving} once Ready`,
    };
  } else if (ready && !s.forbidden)
    progressing = { status: 'False', reason: 'PodReady', message: 'the performer runs its current spec' };
  else progressing = { status: 'True', ...notReady };
  conditions = setCondition(
    conditions,
    { type: CONDITION_PROGRESSING, ...progressing, observedGeneration: generation },
    s.now,
  );
  const degraded =
    !ready || s.upgrading || s.invalid || s.forbidden ? notReady.reason !== 'PodPending' : false;
  conditions = setCondition(
    conditions,
    degraded
      ? { type: CONDITION_DEGRADED, status: 'True', ...notReady, observedGeneration: generation }
      : {
          type: CONDITION_DEGRADED,
          status: 'False',
          reason: 'AsExpected',
          message: 'no problem seen',
          observedGeneration: generation,
        },
    s.now,
  );

  const readyTime = s.serving?.status?.conditions?.find(
    (c) => c.type === 'Ready' && c.status === 'True',
  )?.lastTransitionTime;
  return {
    phase,
    ready,
    podName: s.serving?.metadata?.name ?? s.current?.metadata?.name ?? podName(name),
    serviceName: serviceName(name),
    ...(s.servicePort !== undefined ? { grpcEndpoint: grpcEndpoint(performer, s.servicePort) } : {}),
    ...(readyTime ? { readyTime } : {}),
    ...(s.lastUpgrade ? { lastUpgrade: s.lastUpgrade } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
  };
}

/**
 * Whether the Service routes as `wanted` does: selecting the Pods of the serving revision by its
 * labels and no others, on the spec's port and no other. A selector key or a port edited or added
 * by someone else leaves it routing nowhere, or on a port the status does not name, while the
 * Performer reads Ready.
 */
function routes(service: Service, wanted: Service): boolean {
  // Only the fields the operator sets: the API server may add others (appProtocol, a nodePort).
  const ports = (s: Service) =>
    (s.spec?.ports ?? []).map(({ name, port, targetPort, protocol }) => ({
      name,
      port,
      targetPort,
      protocol,
    }));
  return (
    isDeepStrictEqual(service.spec?.selector ?? {}, wanted.spec?.selector ?? {}) &&
    isDeepStrictEqual(ports(service), ports(wanted))
  );
}

/**
 * Puts the Service's selector and ports back as `wanted` has them. A merge patch, not an apply:
 * it replaces the port list whole, where an apply would keep a port someone else's edit owns
 * beside the wanted one (two ports named grpc then, which the API server refuses). A merge patch
 * merges maps, so a selector key someone added is removed by naming it null.
 */
function restoreService(client: KubeClient, service: Service, wanted: Service): Promise<Service> {
  const { name, namespace } = wanted.metadata as { name: string; namespace: string };
  const selector: Record<string, string | null> = { ...wanted.spec?.selector };
  for (const key of Object.keys(service.spec?.selector ?? {})) if (!(key in selector)) selector[key] = null;
  return client.patch(Services, name, namespace, { spec: { selector, ports: wanted.spec?.ports } });
}

function isReady(pod: Pod): boolean {
  return (
    pod.status?.phase === 'Running' &&
    pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

function created(pod: Pod): Date {
  return new Date(pod.metadata?.creationTimestamp ?? Date.now());
}

function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
