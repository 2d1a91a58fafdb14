/**
 * Workqueue throughput (keys/s) with 1 and 8 workers, beside a plain array FIFO doing the same
 * trivial work with no dedup, no in-flight tracking and no backoff, in the same run.
 *   node --import tsx bench/runtime/workqueue.ts [--keys 200000]
 */
import { parseArgs } from 'node:util';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import { report } from '../support.js';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '200000' } } });
const total = Number(values.keys);
const keys = Array.from({ length: total }, (_, i) => `ns-${i % 100}/obj-${i}`);

async function viaWorkQueue(workers: number): Promise<number> {
  const q = new WorkQueue<string>({ name: `bench-${workers}` });
  let processed = 0;
  const t0 = performance.now();
  const loops = Array.from({ length: workers }, async () => {
    for (;;) {
      const key = await q.get();
      if (key === undefined) return;
      await Promise.resolve(); // the reconcile: one async hop
      processed++;
      q.forget(key);
      q.done(key);
      if (processed === total) q.shutDown();
    }
  });
  for (const k of keys) q.add(k);
  await Promise.all(loops);
  return total / ((performance.now() - t0) / 1000);
}

async function viaArray(workers: number): Promise<number> {
  const fifo: string[] = [];
  let head = 0;
  let processed = 0;
  const t0 = performance.now();
  for (const k of keys) fifo.push(k);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (head < fifo.length) {
        head++;
        await Promise.resolve();
        processed++;
      }
    }),
  );
  if (processed !== total) throw new Error('lost keys');
  return total / ((performance.now() - t0) / 1000);
}

for (const workers of [1, 8]) {
  await viaWorkQueue(workers); // warm-up
  const base = await viaArray(workers);
  const rate = await viaWorkQueue(workers);
  report(
    `workqueue throughput, ${workers} worker${workers > 1 ? 's' : ''}`,
    rate / 1000,
    'k keys/s',
    'plain array FIFO',
    base / 1000,
  );
}
