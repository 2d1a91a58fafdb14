import { LocalControlPlane } from '../src/cluster/control-plane.js';

/** A kubeconfig for a benchmark: $KUBECONFIG when set, else a local plane of the bench's own. */
export async function benchCluster(name: string): Promise<{ kubeconfig: string; done: () => Promise<void> }> {
  if (process.env['KUBECONFIG']) return { kubeconfig: process.env['KUBECONFIG'], done: async () => {} };
  const plane = new LocalControlPlane(`bench-${name}`);
  const kubeconfig = await plane.up();
  return { kubeconfig, done: () => plane.down() };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One result line: the figure, its baseline from the same run, and their ratio. */
export function report(
  what: string,
  value: number,
  unit: string,
  baselineName: string,
  baseline: number,
  target?: string,
): void {
  const ratio = value / baseline;
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(3));
  console.log(
    `${what}: ${fmt(value)} ${unit} | baseline (${baselineName}): ${fmt(baseline)} ${unit} | ratio ${ratio.toFixed(2)}${target ? ` | target ${target}` : ''}`,
  );
}
