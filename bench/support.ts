import { LocalControlPlane } from '../src/cluster/control-plane.js';
import type { KubeClient } from '../src/runtime/client/client.js';

/** A kubeconfig for a benchmark: $KUBECONFIG when set, else a local plane of the bench's own. */
export async function benchCluster(name: string): Promise<{ kubeconfig: string; done: () => Promise<void> }> {
  if (process.env['KUBECONFIG']) return { kubeconfig: process.env['KUBECONFIG'], done: async () => {} };
  const plane = new LocalControlPlane(`bench-${name}`);
  const kubeconfig = await plane.up();
  return { kubeconfig, done: () => plane.down() };
}

/** The API server's own /metrics, as text. */
export async function apiServerMetrics(client: KubeClient): Promise<string> {
  const res = await client.transport.stream({ method: 'GET', path: '/metrics', timeoutMs: 60_000 });
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The CPU seconds the API server has used so far (its process_cpu_seconds_total). */
export async function apiServerCpuSeconds(client: KubeClient): Promise<number> {
  const line = (await apiServerMetrics(client))
    .split('\n')
    .find((l) => l.startsWith('process_cpu_seconds_total '));
  return Number(line?.split(' ')[1]);
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

/**
 * Whether the first side goes first in round `round` (from 0) of rounds taken in ABBA order
 * (A B, B A, B A, A B, …), so that a drift of the machine over a run weighs on both sides alike.
 */
export function firstSideFirst(round: number): boolean {
  return round % 4 === 0 || round % 4 === 3;
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
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

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux this runs on). */
const TICK_MS = 10;

export interface CpuSnapshot {
  at: number;
  busy: number;
  total: number;
  /** CPU ticks and name (comm) by pid. */
  byPid: Map<number, { name: string; ticks: number }>;
}

/** The machine's busy and total CPU ticks, from the first line of /proc/stat. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const { readFile } = await import('node:fs/promises');
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3]! - cpu[4]!, total };
}

/** The machine's CPU times and each process's, from /proc (Linux only; empty elsewhere). */
export async function cpuSnapshot(names: Record<number, string> = {}): Promise<CpuSnapshot> {
  const { readFile, readdir } = await import('node:fs/promises');
  const at = performance.now();
  const byPid = new Map<number, { name: string; ticks: number }>();
  let busy = 0;
  let total = 0;
  try {
    ({ busy, total } = await machineTicks());
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const close = stat.lastIndexOf(')');
      if (close < 0) continue;
      const fields = stat.slice(close + 2).split(' ');
      byPid.set(Number(pid), {
        name: names[Number(pid)] ?? stat.slice(stat.indexOf('(') + 1, close).replace(/\/.*$/, ''),
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    }
  } catch {}
  return { at, busy, total, byPid };
}

/** The CPU milliseconds each process name used between two snapshots. */
export function cpuByName(a: CpuSnapshot, b: CpuSnapshot): Map<string, number> {
  const byName = new Map<string, number>();
  for (const [pid, { name, ticks }] of b.byPid)
    byName.set(name, (byName.get(name) ?? 0) + (ticks - (a.byPid.get(pid)?.ticks ?? 0)) * TICK_MS);
  return byName;
}

/**
 * "machine 93% busy over 2.1 s; CPU: kube-apiserver 2400 ms, etcd 600 ms, …": where the CPU of an
 * interval went, by process name (kernel workers' names lose their suffixes), optionally per item.
 */
export function cpuSummary(a: CpuSnapshot, b: CpuSnapshot, per = 1, top = 6): string {
  if (!b.total) return 'CPU times unavailable';
  const rows = [...cpuByName(a, b)]
    .filter(([, ms]) => ms > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([name, ms]) => `${name} ${(ms / per).toFixed(per === 1 ? 0 : 2)} ms`);
  const busy = (100 * (b.busy - a.busy)) / (b.total - a.total);
  return `machine ${busy.toFixed(0)}% busy over ${((b.at - a.at) / 1000).toFixed(1)} s; CPU${per === 1 ? '' : ` per item`}: ${rows.join(', ')}`;
}

/**
 * Waits until the machine's CPU is less than `busyBelow` busy over a second (at most `timeoutMs`),
 * so that a timed round does not pay for work the one before it left running (deletions, events,
 * garbage collectors). Resolves with how long it waited and the last second's busy share.
 */
export async function quietMachine(
  busyBelow = 0.1,
  timeoutMs = 60_000,
): Promise<{ waitedMs: number; busy: number }> {
  const t0 = performance.now();
  let last = await machineTicks();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await machineTicks();
    const busy = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    last = now;
    if (busy < busyBelow || performance.now() - t0 >= timeoutMs)
      return { waitedMs: performance.now() - t0, busy };
  }
}
