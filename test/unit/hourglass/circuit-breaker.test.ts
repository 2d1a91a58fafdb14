import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker } from '../../../src/hourglass/grpc/circuit-breaker.js';
import { backoffDelay, isRetryable, retryPolicy } from '../../../src/hourglass/grpc/retry.js';

test('the breaker opens after more than the threshold of failures, then lets one probe through', () => {
  let now = 0;
  const breaker = new CircuitBreaker({ failureThreshold: 5, openMs: 60_000, now: () => now });
  for (let i = 0; i < 5; i++) {
    assert.ok(breaker.tryAcquire());
    breaker.recordFailure();
  }
  assert.equal(breaker.state, 'closed', 'five failures are not more than five');
  breaker.recordFailure();
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.tryAcquire(), false);
  now = 59_999;
  assert.equal(breaker.tryAcquire(), false);
  assert.equal(breaker.retryInMs(), 1);
  now = 60_000;
  assert.equal(breaker.tryAcquire(), true, 'the probe');
  assert.equal(breaker.state, 'half-open');
  assert.equal(breaker.tryAcquire(), false, 'only one probe at a time');
  breaker.recordFailure();
  assert.equal(breaker.state, 'open', 'a failed probe opens it again');
  now = 120_000;
  assert.ok(breaker.tryAcquire());
  breaker.recordSuccess();
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.failures, 0);
  assert.ok(breaker.tryAcquire());
});

test('a success resets the count of consecutive failures', () => {
  const breaker = new CircuitBreaker({ failureThreshold: 2 });
  breaker.recordFailure();
  breaker.recordFailure();
  breaker.recordSuccess();
  breaker.recordFailure();
  breaker.recordFailure();
  assert.equal(breaker.state, 'closed');
  breaker.recordFailure();
  assert.equal(breaker.state, 'open');
  assert.throws(
    () => new CircuitBreaker({ failureThreshold: -1 }),
    /failureThreshold must be a whole number/,
  );
});

test('retry policy: defaults, backoff and what is retried', () => {
  const p = retryPolicy();
  assert.deepEqual(p, {
    maxAttempts: 5,
    initialDelayMs: 1000,
    maxDelayMs: 30_000,
    multiplier: 2,
    attemptTimeoutMs: 10_000,
  });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(p, a)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  assert.throws(() => retryPolicy({ maxAttempts: 0 }), /maxAttempts must be a whole number ≥ 1, got 0/);
  assert.throws(
    () => retryPolicy({ initialDelayMs: 10, maxDelayMs: 5 }),
    /maxDelayMs must be ≥ initialDelayMs/,
  );
  for (const code of [14, 4, 8]) assert.equal(isRetryable({ code }), true, `code ${code}`);
  for (const code of [2, 3, 5, 13]) assert.equal(isRetryable({ code }), false, `code ${code}`);
  assert.equal(isRetryable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
});
