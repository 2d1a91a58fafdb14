import type { PerformerClient } from './performer-client.js';
import type { ServingStatus } from './proto.js';

/** A performer's health as last seen: its gRPC serving status, or UNREACHABLE. */
export type PerformerHealth = ServingStatus | 'UNREACHABLE';

export interface HealthMonitorOptions {
  intervalMs: number;
  onChange?: (health: PerformerHealth, previous: PerformerHealth | undefined) => void;
}

/** Polls a performer's `grpc.health.v1` Check and reports each change of its health. */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private last: PerformerHealth | undefined;
  private checking = false;

  constructor(
    private readonly client: PerformerClient,
    private readonly opts: HealthMonitorOptions,
  ) {
    if (!(opts.intervalMs > 0))
      throw new Error(`health monitor intervalMs must be > 0, got ${opts.intervalMs}`);
  }

  get health(): PerformerHealth | undefined {
    return this.last;
  }

  start(): void {
    if (this.timer) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks now and returns the health seen. */
  async check(): Promise<PerformerHealth | undefined> {
    if (this.checking) return this.last;
    this.checking = true;
    let health: PerformerHealth;
    try {
      health = await this.client.checkHealth();
    } catch {
      health = 'UNREACHABLE';
    } finally {
      this.checking = false;
    }
    const previous = this.last;
    this.last = health;
    if (health !== previous) this.opts.onChange?.(health, previous);
    return health;
  }
}
