import { createInterface } from 'node:readline';
import type { KubeClient } from '../runtime/client/client.js';
import type { Kind, KubeObject, WatchEvent } from '../runtime/client/types.js';

export interface WatchUntilOptions<R> {
  namespace: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal: AbortSignal;
  /** Told once the first list is in: the objects have been looked at. */
  onListed?: () => void;
  /** The value when a list finds nothing (the one object watched is gone); else lists go on. */
  ifNoneListed?: () => R;
}

/**
 * Lists then watches the objects matching a selector and resolves with the first non-undefined
 * value `decide` returns for one of them (told whether the object was just deleted). A one-shot
 * wait (not an informer): it re-lists when a watch ends and stops when `signal` aborts.
 */
export async function watchUntil<T extends KubeObject, R>(
  client: KubeClient,
  k: Kind<T>,
  opts: WatchUntilOptions<R>,
  decide: (obj: T, deleted: boolean) => R | undefined,
): Promise<R> {
  const { namespace, labelSelector, fieldSelector, signal } = opts;
  for (let first = true; ; first = false) {
    signal.throwIfAborted();
    const list = await client.list(k, { namespace, labelSelector, fieldSelector, signal });
    if (first) opts.onListed?.();
    if (list.items.length === 0 && opts.ifNoneListed) return opts.ifNoneListed();
    for (const item of list.items) {
      const r = decide(item, false);
      if (r !== undefined) return r;
    }
    const stream = await client.watchStream(k, {
      namespace,
      labelSelector,
      fieldSelector,
      resourceVersion: list.metadata.resourceVersion,
      allowWatchBookmarks: false,
      timeoutSeconds: 60,
      signal,
    });
    try {
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        if (!line) continue;
        const event = JSON.parse(line) as WatchEvent<T>;
        // ERROR (e.g. 410 Gone) ends this watch; the loop re-lists.
        if (event.type === 'ERROR') break;
        const r = decide(event.object, event.type === 'DELETED');
        if (r !== undefined) return r;
      }
    } catch (err) {
      signal.throwIfAborted();
      throw err;
    } finally {
      stream.destroy();
    }
  }
}
