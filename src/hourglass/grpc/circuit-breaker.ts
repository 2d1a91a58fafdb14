export interface CircuitBreakerOptions {
  /** The breaker opens when more than this many calls in a row fail (5). */
  failureThreshold: number;
  /** How long it stays open before letting one probe through (60 s). */
  openMs: number;
  /** Injectable for tests. */
  now: () => number;
}

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = {
  failureThreshold: 5,
  openMs: 60_000,
  now: Date.now,
};

export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Stops calling a performer that keeps failing: closed until more than `failureThreshold`
 * consecutive failures, then open (calls refused) for `openMs`, then half-open, when exactly one
 * probe goes through: its success closes the breaker, its failure opens it again.
 */
export class CircuitBreaker {
  private readonly opts: CircuitBreakerOptions;
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probing = false;
  private current: CircuitState = 'closed';

  constructor(opts: Partial<CircuitBreakerOptions> = {}) {
    this.opts = { ...DEFAULT_CIRCUIT_BREAKER, ...opts };
    if (!Number.isInteger(this.opts.failureThreshold) || this.opts.failureThreshold < 0)
      throw new Error(
        `circuit breaker failureThreshold must be a whole number ≥ 0, got ${this.opts.failureThreshold}`,
      );
    if (!(this.opts.openMs >= 0))
      throw new Error(`circuit breaker openMs must be ≥ 0, got ${this.opts.openMs}`);
  }

  get state(): CircuitState {
    return this.current;
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  /** Milliseconds until an open breaker lets a probe through (0 when not open). */
  retryInMs(): number {
    return this.current === 'open' ? Math.max(0, this.openedAt + this.opts.openMs - this.opts.now()) : 0;
  }

  /** Whether a call may go out now; in half-open state only the one probe may. */
  tryAcquire(): boolean {
    if (this.current === 'open' && this.retryInMs() === 0) {
      this.current = 'half-open';
      this.probing = false;
    }
    if (this.current === 'closed') return true;
    if (this.current === 'half-open' && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }

  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.probing = false;
    this.current = 'closed';
  }

  /** A call that ended with no verdict on the performer: a half-open breaker may probe again. */
  release(): void {
    this.probing = false;
  }

  recordFailure(): void {
    this.consecutiveFailures++;
    if (this.current === 'half-open' || this.consecutiveFailures > this.opts.failureThreshold) {
      this.current = 'open';
      this.openedAt = this.opts.now();
      this.probing = false;
    }
  }
}
