import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchCoordinator, WorkerPool } from '../../../src/conductor/batch.js';
import { waitFor } from '../../../src/runtime/wait.js';

test('a batch flushes at its size without waiting for the interval', () => {
  const flushed: number[][] = [];
  const batches = new BatchCoordinator<number>(3, 60_000, (b) => flushed.push(b));
  for (let i = 0; i < 7; i++) batches.add(i);
  assert.deepEqual(flushed, [
    [0, 1, 2],
    [3, 4, 5],
  ]);
  assert.equal(batches.pending, 1);
  batches.flush();
  assert.deepEqual(flushed.at(-1), [6]);
});

test('a partial batch flushes once the interval has passed', async () => {
  const flushed: number[][] = [];
  const batches = new BatchCoordinator<number>(10, 20, (b) => flushed.push(b));
  batches.add(1);
  batches.add(2);
  await waitFor(() => flushed.length === 1, {
    description: 'the interval flush',
    timeoutMs: 5000,
    intervalMs: 5,
  });
  assert.deepEqual(flushed, [[1, 2]]);
});

test('the worker pool never runs more than its limit at once, and idle() waits for all', async () => {
  const pool = new WorkerPool(2);
  let running = 0;
  let peak = 0;
  let finished = 0;
  for (let i = 0; i < 6; i++) {
    void pool.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      finished++;
    });
  }
  assert.equal(pool.busy, 6);
  await pool.idle();
  assert.equal(finished, 6);
  assert.equal(peak, 2);
  assert.equal(pool.busy, 0);
});
