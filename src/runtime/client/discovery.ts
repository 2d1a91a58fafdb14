import { NotFoundError } from './errors.js';
import type { Transport } from './transport.js';

/** Where a kind lives in the REST API. */
export interface ResourceInfo {
  readonly apiVersion: string;
  readonly kind: string;
  /** Plural resource name, e.g. `deployments`. */
  readonly resource: string;
  readonly namespaced: boolean;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** Discovery lists no such kind in its group-version: its CRD is not installed, or not served yet. */
export class KindNotFoundError extends NotFoundError {
  override name = 'KindNotFoundError';
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(
      404,
      'NotFound',
      `the server has no resource for kind ${kind} in ${apiVersion} (is its CRD installed?)`,
      {},
      { method: 'GET', path: groupVersionPath(apiVersion) },
    );
  }
}

export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/**
 * Maps apiVersion + kind to resources through the server's discovery documents, one request per
 * group-version, cached; a kind not found is looked up afresh once (a CRD may have just arrived).
 */
export class Discovery {
  private readonly byGroupVersion = new Map<string, Promise<Map<string, ResourceInfo>>>();

  constructor(private readonly transport: Transport) {}

  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const found =
      (await this.load(apiVersion, false)).get(kind) ?? (await this.load(apiVersion, true)).get(kind);
    if (!found) throw new KindNotFoundError(apiVersion, kind);
    return found;
  }

  invalidate(apiVersion?: string): void {
    if (apiVersion) this.byGroupVersion.delete(apiVersion);
    else this.byGroupVersion.clear();
  }

  private load(apiVersion: string, fresh: boolean): Promise<Map<string, ResourceInfo>> {
    let entry = fresh ? undefined : this.byGroupVersion.get(apiVersion);
    if (!entry) {
      entry = this.fetch(apiVersion);
      this.byGroupVersion.set(apiVersion, entry);
      entry.catch(() => this.byGroupVersion.delete(apiVersion));
    }
    return entry;
  }

  private async fetch(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const map = new Map<string, ResourceInfo>();
    let list: ApiResourceList;
    try {
      list = await this.transport.json<ApiResourceList>({
        method: 'GET',
        path: groupVersionPath(apiVersion),
      });
    } catch (err) {
      if (err instanceof NotFoundError) return map;
      throw err;
    }
    for (const r of list.resources) {
      if (r.name.includes('/')) continue; // subresources
      map.set(r.kind, { apiVersion, kind: r.kind, resource: r.name, namespaced: r.namespaced });
    }
    return map;
  }
}
