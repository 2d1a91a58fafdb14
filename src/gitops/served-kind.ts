import type { KubeClient } from '../runtime/client/client.js';
import { KindNotFoundError, type ResourceInfo } from '../runtime/client/discovery.js';
import { NotFoundError } from '../runtime/client/errors.js';
import { type KubeObject, kind } from '../runtime/client/types.js';

/** The API server's discovery does not list this kind: its CRD is not installed (or not served yet). */
export class KindNotServedError extends Error {
  override name = 'KindNotServedError';
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the cluster serves no ${kind} in ${apiVersion} (is its CRD installed?)`);
  }
}

/**
 * Where the cluster serves `obj`'s kind. Discovery's "no such kind" becomes a KindNotServedError,
 * which callers can tell from a missing object or namespace without reading the message.
 */
export async function servedKind(client: KubeClient, obj: KubeObject): Promise<ResourceInfo> {
  const apiVersion = obj.apiVersion ?? '';
  const k = obj.kind ?? '';
  try {
    return await client.resourceInfo(kind(apiVersion, k));
  } catch (err) {
    if (err instanceof KindNotFoundError) throw new KindNotServedError(apiVersion, k);
    throw err;
  }
}

/** Whether a 404 from writing an object says that its namespace does not exist. */
export function isMissingNamespace(err: unknown, namespace: string | undefined): boolean {
  const details = err instanceof NotFoundError ? err.status.details : undefined;
  return namespace !== undefined && details?.kind === 'namespaces' && details.name === namespace;
}
