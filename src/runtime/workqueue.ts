import {
  workqueueAdds,
  workqueueDepth,
  workqueueQueueDuration,
  workqueueRetries,
  workqueueWorkDuration,
} from './metrics.js';

/** Per-key exponential backoff of client-go's default controller rate limiter. */
export const BACKOFF_BASE_MS = 5;
export const BACKOFF_MAX_MS = 1_000_000;
/** Node fires a timer of more than 2^31 - 1 ms (24.8 days) after 1 ms; longer delays wait this long. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `high` goes before every `normal` key. A controller adds its owned objects' events as high: they
 * move work already started towards done, where a new object starts more.
 */
export type Priority = 'high' | 'normal';

export interface WorkQueueOptions {
  /** Name in the workqueue_* metrics; omit for a queue that reports none. */
  readonly name?: string;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * A work queue with client-go's guarantees: a key is queued at most once however often it is
 * added; a key is never handed to two workers at once, and one added while it is being processed
 * is processed once more afterwards; failed keys come back after a per-key exponential backoff.
 * Keys come out first in, first out within each priority, high before normal.
 */
export class WorkQueue<K = string> {
  private readonly lanes: Record<Priority, { entries: { key: K; seq: number }[]; head: number }> = {
    high: { entries: [], head: 0 },
    normal: { entries: [], head: 0 },
  };
  /** The entry each queued key waits as; another entry of it (left when promoted) is skipped. */
  private readonly queued = new Map<K, number>();
  private seq = 0;
  /** Keys waiting to be queued (or queued again once processed), with their priority. */
  private readonly dirty = new Map<K, Priority>();
  private readonly processing = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly failures = new Map<K, number>();
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly labels?: { name: string; controller: string };

  constructor(private readonly opts: WorkQueueOptions = {}) {
    if (opts.name) this.labels = { name: opts.name, controller: opts.name };
    this.reportDepth();
  }

  get length(): number {
    return this.queued.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Queues `key` unless it is already waiting; a no-op after shutdown. A key waiting at normal
   * priority that is added at high moves ahead.
   */
  add(key: K, priority: Priority = 'normal'): void {
    if (this.shuttingDown) return;
    const waiting = this.dirty.get(key);
    if (waiting !== undefined) {
      if (priority === 'high' && waiting === 'normal') {
        this.dirty.set(key, 'high');
        if (this.queued.has(key)) this.enqueue(key, 'high');
      }
      return;
    }
    if (this.labels) workqueueAdds.inc(this.labels);
    this.dirty.set(key, priority);
    this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return; // re-queued by done()
    this.push(key, priority);
  }

  /** Queues `key` after `delayMs`; an earlier pending add of the same key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    // requeueAfter(30 days) must not become a reconcile every millisecond: come back sooner, once.
    const wait = Math.min(delayMs, MAX_TIMER_MS);
    const at = Date.now() + wait;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, wait);
    this.delayed.set(key, { at, timer });
  }

  /** Queues `key` after its backoff: 5 ms doubling per consecutive failure, up to 1000 s. */
  addRateLimited(key: K): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    if (this.labels) workqueueRetries.inc(this.labels);
    this.addAfter(key, this.backoff(n));
  }

  /** The delay the next addRateLimited of `key` would get. */
  backoff(failures: number): number {
    const base = this.opts.baseDelayMs ?? BACKOFF_BASE_MS;
    const max = this.opts.maxDelayMs ?? BACKOFF_MAX_MS;
    // 2^n overflows to Infinity long after it passes max; min() handles both.
    return Math.min(max, base * 2 ** failures);
  }

  /** Clears the failure count of `key` (its next failure backs off from the start). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Resolves with the next key to process, or undefined once the queue is shut down: keys still
   * waiting then are dropped (a controller relists them when it starts again).
   */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    if (this.length > 0) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (this.labels && started !== undefined) {
      workqueueWorkDuration.observe(this.labels, (performance.now() - started) / 1000);
    }
    // Once shutting down, a key re-added while it was processing is not run again: the drain
    // would otherwise wait for a worker that has already left.
    const again = this.dirty.get(key);
    if (again !== undefined && !this.shuttingDown) this.push(key, again);
    else if (this.processing.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Stops intake: pending delayed adds are dropped and waiting workers get undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Shuts down, then resolves once every key handed out has been marked done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  private push(key: K, priority: Priority): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.markProcessing(key);
      waiter(key);
      return;
    }
    this.enqueue(key, priority);
    this.reportDepth();
  }

  private enqueue(key: K, priority: Priority): void {
    const seq = this.seq++;
    this.lanes[priority].entries.push({ key, seq });
    this.queued.set(key, seq);
  }

  /** The next key, high lane first; called only while length > 0. */
  private take(): K {
    for (const priority of ['high', 'normal'] as const) {
      const lane = this.lanes[priority];
      while (lane.head < lane.entries.length) {
        const { key, seq } = lane.entries[lane.head]!;
        lane.head++;
        if (lane.head > 1024 && lane.head * 2 > lane.entries.length) {
          lane.entries.splice(0, lane.head);
          lane.head = 0;
        }
        if (this.queued.get(key) !== seq) continue; // promoted: its entry in the high lane counts
        this.queued.delete(key);
        this.markProcessing(key);
        this.reportDepth();
        return key;
      }
    }
    throw new Error('WorkQueue: take() from an empty queue');
  }

  private markProcessing(key: K): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const now = performance.now();
    this.startedAt.set(key, now);
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (this.labels && added !== undefined) workqueueQueueDuration.observe(this.labels, (now - added) / 1000);
  }

  private reportDepth(): void {
    if (this.labels) workqueueDepth.set(this.labels, this.length);
  }
}
