/**
 * Groups accepted intents into batches: a batch is flushed when it reaches `size` items or when
 * `intervalMs` has passed since its first item, whichever comes first (the seed's coordinator).
 */
export class BatchCoordinator<T> {
  private items: T[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly size: number,
    private readonly intervalMs: number,
    private readonly onFlush: (batch: T[]) => void,
  ) {}

  get pending(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.size) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Hands over whatever is waiting now (also on shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.items.length) return;
    const batch = this.items;
    this.items = [];
    this.onFlush(batch);
  }
}

/** Runs tasks with at most `limit` in flight; `idle()` resolves when none run or wait. */
export class WorkerPool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get busy(): number {
    return this.running + this.waiting.length;
  }

  async run<R>(task: () => Promise<R>): Promise<R> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      const next = this.waiting.shift();
      if (next) next();
      else if (this.running === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  idle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
