import * as grpc from '@grpc/grpc-js';

export interface RetryPolicy {
  /** Tries in all, the first included (5). */
  maxAttempts: number;
  /** Wait before the second try (1 s), doubling each time … */
  initialDelayMs: number;
  /** … up to this (30 s). */
  maxDelayMs: number;
  multiplier: number;
  /** Deadline of each try (10 s). */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  multiplier: 2,
  attemptTimeoutMs: 10_000,
};

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...overrides };
  const bad = (field: keyof RetryPolicy, want: string) => {
    throw new Error(`retry policy: ${field} must be ${want}, got ${p[field]}`);
  };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) bad('maxAttempts', 'a whole number ≥ 1');
  if (!(p.initialDelayMs >= 0)) bad('initialDelayMs', '≥ 0');
  if (!(p.maxDelayMs >= p.initialDelayMs)) bad('maxDelayMs', '≥ initialDelayMs');
  if (!(p.multiplier >= 1)) bad('multiplier', '≥ 1');
  if (!(p.attemptTimeoutMs > 0)) bad('attemptTimeoutMs', '> 0');
  return p;
}

/** The wait before try number `attempt + 1`. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1));
}

const RETRYABLE_CODES = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/**
 * Whether a failed call may succeed if tried again: the performer could not be reached, was too
 * slow or was overloaded, or the connection broke before a gRPC status came back. Any other
 * status is the performer's answer (the task's own failure) and is final.
 */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'number') return true;
  return RETRYABLE_CODES.has(code);
}
