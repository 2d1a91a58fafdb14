import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import type { KubeClient } from '../../runtime/client/client.js';
import { ConfigMaps } from '../../runtime/client/kinds.js';
import type { Inventory } from './inventory.js';

/** An O2IMS inventory subscription: where to POST inventory change notifications. */
export interface SubscriptionInfo {
  subscriptionId: string;
  consumerSubscriptionId?: string;
  callback: string;
}

/** notificationEventType of O2IMS's InventoryChangeNotification. */
export const NotificationEventType = { CREATE: 0, MODIFY: 1, DELETE: 2 } as const;

export interface InventoryChangeNotification {
  notificationId: string;
  subscriptionId: string;
  consumerSubscriptionId?: string;
  notificationEventType: 0 | 1 | 2;
  /** The changed object's path under the inventory API's root, e.g. `/resourcePools/{id}`. */
  objectRef: string;
  priorObjectState?: unknown;
  postObjectState?: unknown;
}

/** A request body the API refuses, with the field to blame. */
export class SubscriptionError extends Error {
  override name = 'SubscriptionError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const FIELDS = new Set(['callback', 'consumerSubscriptionId', 'filter']);

/** Checks a POSTed subscription and gives it an id. */
export function newSubscription(body: unknown): SubscriptionInfo {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new SubscriptionError('(body)', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (!FIELDS.has(key)) throw new SubscriptionError(key, 'is not a field of a subscription');
  // Filters are not implemented; a subscription that ignored its filter would over-deliver.
  if (b['filter'] !== undefined) throw new SubscriptionError('filter', 'is not supported by this O-Cloud');
  const callback = b['callback'];
  if (typeof callback !== 'string' || !callback)
    throw new SubscriptionError('callback', 'is required: the URL notifications are POSTed to');
  let url: URL;
  try {
    url = new URL(callback);
  } catch {
    throw new SubscriptionError('callback', `"${callback}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new SubscriptionError('callback', `must be an http or https URL, got ${url.protocol}`);
  const consumer = b['consumerSubscriptionId'];
  if (consumer !== undefined && typeof consumer !== 'string')
    throw new SubscriptionError('consumerSubscriptionId', 'must be a string');
  return {
    subscriptionId: randomUUID(),
    ...(consumer !== undefined ? { consumerSubscriptionId: consumer } : {}),
    callback,
  };
}

const LABEL = 'o2ims.tutti.dev/subscription';
const KEY = 'subscription.json';

/** Subscriptions kept as ConfigMaps (`o2ims-subscription-<id>`), so restarts and replicas share them. */
export class SubscriptionStore {
  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  async list(): Promise<SubscriptionInfo[]> {
    const cms = await this.client.listAll(ConfigMaps, {
      namespace: this.namespace,
      labelSelector: `${LABEL}=true`,
    });
    return cms.items
      .map((cm) => JSON.parse(cm.data?.[KEY] ?? '{}') as SubscriptionInfo)
      .sort((a, b) => a.subscriptionId.localeCompare(b.subscriptionId));
  }

  async get(id: string): Promise<SubscriptionInfo | undefined> {
    const cm = await this.client.find(ConfigMaps, this.name(id), this.namespace);
    return cm ? (JSON.parse(cm.data?.[KEY] ?? '{}') as SubscriptionInfo) : undefined;
  }

  async create(s: SubscriptionInfo): Promise<void> {
    await this.client.create<ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: this.name(s.subscriptionId), namespace: this.namespace, labels: { [LABEL]: 'true' } },
      data: { [KEY]: JSON.stringify(s) },
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.client.delete(ConfigMaps, this.name(id), this.namespace);
  }

  private name(id: string): string {
    return `o2ims-subscription-${id}`;
  }
}

/** Every object of the inventory that notifications are about, by its objectRef. */
export function inventoryObjects(inv: Inventory): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const d of inv.deploymentManagers) out.set(`/deploymentManagers/${d.deploymentManagerId}`, d);
  for (const t of inv.resourceTypes) out.set(`/resourceTypes/${t.resourceTypeId}`, t);
  for (const p of inv.resourcePools) out.set(`/resourcePools/${p.resourcePoolId}`, p);
  for (const r of inv.resources) out.set(`/resourcePools/${r.resourcePoolId}/resources/${r.resourceId}`, r);
  return out;
}

export interface InventoryChange {
  type: 0 | 1 | 2;
  objectRef: string;
  prior?: unknown;
  post?: unknown;
}

/** What changed between two snapshots, in a stable order. */
export function inventoryChanges(prior: Map<string, unknown>, post: Map<string, unknown>): InventoryChange[] {
  const changes: InventoryChange[] = [];
  for (const [ref, obj] of post) {
    const before = prior.get(ref);
    if (before === undefined) changes.push({ type: NotificationEventType.CREATE, objectRef: ref, post: obj });
    else if (!isDeepStrictEqual(before, obj))
      changes.push({ type: NotificationEventType.MODIFY, objectRef: ref, prior: before, post: obj });
  }
  for (const [ref, obj] of prior)
    if (!post.has(ref)) changes.push({ type: NotificationEventType.DELETE, objectRef: ref, prior: obj });
  return changes.sort((a, b) => a.objectRef.localeCompare(b.objectRef) || a.type - b.type);
}

const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * Compares the inventory with the last one it saw and POSTs each change to every subscription.
 * The first look only takes the snapshot. Delivery is best effort: a callback that fails is
 * logged and not retried (the next change is sent as usual).
 */
export class InventoryNotifier {
  private last?: Map<string, unknown>;

  constructor(
    private readonly opts: {
      inventory(): Promise<Inventory>;
      store: SubscriptionStore;
      log: Logger;
    },
  ) {}

  /** One comparison and its deliveries; returns how many notifications were delivered. */
  async check(): Promise<number> {
    const now = inventoryObjects(await this.opts.inventory());
    const prior = this.last;
    if (!prior) {
      this.last = now;
      return 0;
    }
    const changes = inventoryChanges(prior, now);
    if (changes.length === 0) return 0;
    // The snapshot moves on only once there is someone to tell: changes seen while the
    // subscriptions cannot be read are sent at the next check, not dropped.
    const subscriptions = await this.opts.store.list();
    this.last = now;
    const sent = await Promise.all(subscriptions.flatMap((s) => changes.map((c) => this.deliver(s, c))));
    return sent.filter(Boolean).length;
  }

  /** Checks every `periodMs` until `signal` aborts. */
  async run(periodMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.check().catch((err: Error) =>
        this.opts.log.warn({ err: err.message }, 'inventory check failed'),
      );
      await delay(periodMs, undefined, { signal }).catch(() => {});
    }
  }

  private async deliver(s: SubscriptionInfo, c: InventoryChange): Promise<boolean> {
    const notification: InventoryChangeNotification = {
      notificationId: randomUUID(),
      subscriptionId: s.subscriptionId,
      ...(s.consumerSubscriptionId !== undefined ? { consumerSubscriptionId: s.consumerSubscriptionId } : {}),
      notificationEventType: c.type,
      objectRef: c.objectRef,
      ...(c.prior !== undefined ? { priorObjectState: c.prior } : {}),
      ...(c.post !== undefined ? { postObjectState: c.post } : {}),
    };
    try {
      const res = await fetch(s.callback, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(notification),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (res.ok) return true;
      this.opts.log.warn(
        { subscription: s.subscriptionId, status: res.status },
        'callback refused a notification',
      );
    } catch (err) {
      this.opts.log.warn(
        { subscription: s.subscriptionId, err: (err as Error).message },
        'could not deliver a notification',
      );
    }
    return false;
  }
}
