import type { ListMeta, ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** Any Kubernetes object as it travels on the wire. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A kind, carrying its TypeScript type so that the client's calls on it are typed. */
export interface Kind<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  /** Phantom field: never set, only carries T. */
  readonly __type?: T;
}

export function kind<T extends KubeObject = KubeObject>(apiVersion: string, kindName: string): Kind<T> {
  return { apiVersion, kind: kindName };
}

export function kindOf(obj: KubeObject): Kind {
  if (!obj.apiVersion || !obj.kind) throw new Error('the object has no apiVersion or kind');
  return { apiVersion: obj.apiVersion, kind: obj.kind };
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key of caches and queues. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
