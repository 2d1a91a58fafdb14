import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { type KubeClient, retryOnConflict } from './client/client.js';
import type { Kind, KubeObject } from './client/types.js';

/** An ownerReference that makes `owner` the controller of a child (garbage-collected with it). */
export function controllerRef(owner: KubeObject): OwnerReference {
  const m = owner.metadata;
  if (!owner.apiVersion || !owner.kind || !m?.name || !m.uid) {
    throw new Error('an owner needs apiVersion, kind, metadata.name and metadata.uid');
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: m.name,
    uid: m.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  return !!obj.metadata?.ownerReferences?.some((r) => r.controller && r.uid === owner.metadata?.uid);
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/**
 * Adds a finalizer unless present. Read-modify-write with the object's resourceVersion, retried
 * on conflict: a concurrent writer's finalizers are never overwritten.
 */
export async function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  kind: Kind<T>,
  obj: T,
  finalizer: string,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return retryOnConflict(client, kind, obj.metadata!.name!, obj.metadata?.namespace, (current) => {
    if (hasFinalizer(current, finalizer)) return false;
    current.metadata!.finalizers = [...(current.metadata?.finalizers ?? []), finalizer];
    return true;
  });
}

/** Removes a finalizer if present, with the same conflict safety; tolerates a vanished object. */
export async function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  kind: Kind<T>,
  obj: T,
  finalizer: string,
): Promise<T | undefined> {
  try {
    return await retryOnConflict(client, kind, obj.metadata!.name!, obj.metadata?.namespace, (current) => {
      if (!hasFinalizer(current, finalizer)) return false;
      current.metadata!.finalizers = current.metadata!.finalizers!.filter((f) => f !== finalizer);
      return true;
    });
  } catch (err) {
    if ((err as Error).name === 'NotFoundError') return undefined;
    throw err;
  }
}

/**
 * Updates the status subresource from the latest object: `mutate` edits `status` in place and
 * returns false when nothing changed (no write). Conflicts are retried, so no write is lost.
 */
export async function updateStatus<T extends KubeObject & { status?: unknown }>(
  client: KubeClient,
  kind: Kind<T>,
  name: string,
  namespace: string | undefined,
  mutate: (obj: T) => boolean | undefined | Promise<boolean | undefined>,
): Promise<T> {
  return retryOnConflict(client, kind, name, namespace, mutate, { subresource: 'status' });
}
