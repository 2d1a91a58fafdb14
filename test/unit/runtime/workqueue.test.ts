import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkQueue } from '../../../src/runtime/workqueue.js';

describe('WorkQueue', () => {
  test('a key added many times is queued once', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  test('a key re-added while processing runs once more afterwards, never concurrently', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const first = await q.get();
    assert.equal(first, 'a');
    q.add('a');
    q.add('a');
    // Still being processed: not handed out again until done.
    assert.equal(q.length, 0);
    let second: string | undefined;
    const waiting = q.get().then((k) => {
      second = k;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(second, undefined, 'no second worker may get "a" while it is processed');
    q.done('a');
    await waiting;
    assert.equal(second, 'a');
    q.done('a');
    assert.equal(q.length, 0);
  });

  test('high-priority keys come out before normal ones, each lane first in, first out', async () => {
    const q = new WorkQueue<string>();
    q.add('new-1');
    q.add('new-2');
    q.add('ready-1', 'high');
    q.add('new-3');
    q.add('ready-2', 'high');
    const order: (string | undefined)[] = [];
    while (q.length) order.push(await q.get());
    assert.deepEqual(order, ['ready-1', 'ready-2', 'new-1', 'new-2', 'new-3']);
  });

  test('a waiting key added again at high priority moves ahead once; at normal it keeps its place', async () => {
    const q = new WorkQueue<string>();
    for (const k of ['a', 'b', 'c']) q.add(k);
    q.add('c', 'high');
    q.add('c', 'high');
    q.add('a', 'normal');
    assert.equal(q.length, 3);
    const order: (string | undefined)[] = [];
    while (q.length) order.push(await q.get());
    assert.deepEqual(order, ['c', 'a', 'b'], 'c is handed out once, from the high lane');
    // Added at high while it is processed: it runs again afterwards, ahead of normal keys.
    q.add('c', 'high');
    q.add('d');
    for (const k of order) q.done(k!);
    assert.deepEqual([await q.get(), await q.get()], ['c', 'd']);
  });

  test('backoff grows 5 ms doubling per failure up to 1000 s and resets on forget', () => {
    const q = new WorkQueue<string>();
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((n) => q.backoff(n)),
      [5, 10, 20, 40, 5120],
    );
    assert.equal(q.backoff(40), 1_000_000);
    assert.equal(q.backoff(2000), 1_000_000);
    q.addRateLimited('a');
    q.addRateLimited('a');
    assert.equal(q.numRequeues('a'), 2);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.shutDown();
  });

  test('addRateLimited brings the key back after its backoff', async () => {
    const q = new WorkQueue<string>({ baseDelayMs: 20 });
    q.addRateLimited('a'); // 20 ms
    assert.equal(q.length, 0, 'not queued before its delay');
    assert.equal(await q.get(), 'a');
    q.done('a');
    q.shutDown();
  });

  test('addAfter of more than 24.8 days (the longest Node timer) or for ever does not come back at once', async () => {
    const q = new WorkQueue<string>();
    q.addAfter('in-30-days', 30 * 24 * 3600_000);
    q.addAfter('never', Number.POSITIVE_INFINITY);
    q.addAfter('soon', 5);
    assert.equal(await q.get(), 'soon');
    assert.equal(q.length, 0);
    q.shutDown();
  });

  test('addAfter delivers later, and an earlier pending add of the same key wins', async () => {
    const q = new WorkQueue<string>();
    q.addAfter('late', 10_000);
    q.addAfter('late', 15);
    q.addAfter('late', 20_000);
    assert.equal(await q.get(), 'late');
    q.done('late');
    q.shutDown();
    assert.equal(q.length, 0);
  });

  test('shutdown stops intake, wakes idle workers and drains in-flight work', async () => {
    const q = new WorkQueue<string>();
    q.add('busy');
    const key = await q.get();
    const idle = q.get();
    let drained = false;
    const drain = q.shutDownWithDrain().then(() => {
      drained = true;
    });
    assert.equal(await idle, undefined, 'an idle worker is released');
    q.add('new');
    assert.equal(q.length, 0, 'no intake after shutdown');
    await new Promise((r) => setImmediate(r));
    assert.equal(drained, false, 'drain waits for the key being processed');
    q.done(key!);
    await drain;
    assert.equal(drained, true);
    assert.equal(await q.get(), undefined);
  });

  test('a key re-added while it is processing does not hold up the drain at shutdown', async () => {
    const q = new WorkQueue<string>();
    q.add('leader');
    const key = await q.get();
    q.add('leader'); // another key's reconcile hands its work to this one meanwhile
    const drain = q.shutDownWithDrain();
    q.done(key!);
    await drain;
    assert.equal(q.length, 0);
    assert.equal(await q.get(), undefined);
  });
});
