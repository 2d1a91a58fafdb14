import { randomBytes } from 'node:crypto';
import type { Event } from 'kubernetes-types/events/v1.js';
import type { KubeClient } from './client/client.js';
import { NotFoundError } from './client/errors.js';
import { Events } from './client/kinds.js';
import type { KubeObject } from './client/types.js';
import type { Logger } from './log.js';
import { microTime } from './time.js';

export type EventType = 'Normal' | 'Warning';

/** Repeats of one event within this window become a series on one object instead of new ones. */
const SERIES_WINDOW_MS = 6 * 60_000;
/**
 * Events sent at once; the rest wait their turn. Callers do not wait for events, so a burst of
 * reconciles would otherwise fill the client's shared request sockets with events and queue its
 * reconciles' own requests behind them.
 */
const EVENTS_IN_FLIGHT = 4;
/**
 * Events waiting their turn, at most (client-go's maxQueuedEvents); more are dropped. While the
 * API server does not answer, callers that do not wait would otherwise queue events without end.
 */
export const MAX_QUEUED_EVENTS = 1000;

/**
 * Records events.k8s.io/v1 Events about objects, as a controller's reporting component. An event
 * repeated within six minutes updates its series (count, last time) rather than piling up.
 * Recording never throws: a lost event must not fail a reconcile.
 */
export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private dropping = false;

  constructor(
    private readonly client: KubeClient,
    /** e.g. `tutti.dev/performer-controller`. */
    readonly reportingController: string,
    readonly reportingInstance: string,
    private readonly log?: Logger,
  ) {}

  async record(
    regarding: KubeObject,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): Promise<void> {
    const m = regarding.metadata ?? {};
    const namespace = m.namespace || 'default';
    const dedup = `${m.uid}|${type}|${reason}|${action}|${note}`;
    // A waiter is handed the slot of the event that finished before it.
    if (this.inFlight >= EVENTS_IN_FLIGHT) {
      if (this.waiting.length >= MAX_QUEUED_EVENTS) {
        if (!this.dropping)
          this.log?.warn(
            { reason, queued: MAX_QUEUED_EVENTS },
            'too many events waiting to be sent; dropping',
          );
        this.dropping = true;
        return;
      }
      await new Promise<void>((go) => this.waiting.push(go));
    } else this.inFlight++;
    this.dropping = false;
    const now = Date.now();
    const seen = this.recent.get(dedup);
    try {
      if (seen && now - seen.at < SERIES_WINDOW_MS) {
        seen.count++;
        seen.at = now;
        try {
          await this.client.patch(Events, seen.name, seen.namespace, {
            series: { count: seen.count, lastObservedTime: microTime() },
          });
          return;
        } catch (err) {
          // The Event was deleted (by hand, or its TTL): start anew, as client-go does, rather
          // than lose every repeat for as long as they keep coming.
          if (!(err instanceof NotFoundError)) throw err;
          this.recent.delete(dedup);
        }
      }
      const created = await this.client.create<Event>({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(m.name ?? 'object', now), namespace },
        eventTime: microTime(),
        type,
        reason,
        action,
        note: note.slice(0, 1024),
        reportingController: this.reportingController,
        reportingInstance: this.reportingInstance,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
        },
      });
      this.recent.set(dedup, { name: created.metadata!.name!, namespace, count: 1, at: now });
      if (this.recent.size > 4096) this.prune(now);
    } catch (err) {
      this.log?.warn({ reason, err: (err as Error).message }, 'failed to record event');
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private prune(now: number): void {
    for (const [k, v] of this.recent) if (now - v.at >= SERIES_WINDOW_MS) this.recent.delete(k);
  }
}

/**
 * `<object>.<time and random, hex>`, client-go's shape. Not generateName: the API server
 * validates a generateName prefix as a DNS subdomain, and one ending in `.` is refused.
 */
function eventName(object: string, now: number): string {
  return `${object.slice(0, 230)}.${now.toString(16)}${randomBytes(4).toString('hex')}`;
}
