/**
 * conductor-loop intake benchmark: 2,000 intent files dropped at once, then a steady 200 files/s
 * for 30 s with --batch-interval 50ms. Each figure is printed beside a minimal client creating the
 * same NetworkIntents with the same concurrency in the same run.
 *
 * The loop is measured as it runs in production: one long-running process whose handoff directory
 * and state keep every round's files. Both sides first take an untimed round, so that neither
 * pays for its first requests' connections and its code's compilation inside a measurement.
 *
 *   KUBECONFIG=… node --import tsx bench/conductor/intake.ts   (without KUBECONFIG: a plane of its own)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { NetworkIntents } from '../../src/apis/intent.nephoran.com/network-intent.js';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { conductorCrds } from '../../src/conductor/crds.js';
import { type Intent, toNetworkIntent } from '../../src/conductor/intent.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Namespaces } from '../../src/runtime/client/kinds.js';
import { installCrds } from '../../src/runtime/crds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { cpuSnapshot, cpuSummary, percentile } from '../support.js';

const WORKERS = 8;
// Smaller runs for a quick look while profiling: BENCH_BURST=500 BENCH_STEADY_SECONDS=5 BENCH_ROUNDS=1.
const BURST = Number(process.env['BENCH_BURST'] ?? 2_000);
const RATE = 200;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 4);
const STEADY_SECONDS = Number(process.env['BENCH_STEADY_SECONDS'] ?? 30);
/** Extra node flags for the loop under test, e.g. BENCH_LOOP_NODE_ARGS=--cpu-prof. */
const LOOP_NODE_ARGS = (process.env['BENCH_LOOP_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const ROOT = new URL('../../', import.meta.url).pathname;

const pct = (xs: number[], p: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );
const line = (what: string, v: number, unit: string, base: number, target = '') =>
  console.log(
    `${what}: ${v.toFixed(1)} ${unit} | baseline (minimal client, same concurrency): ${base.toFixed(1)} ${unit} | ratio ${(v / base).toFixed(2)}${target ? ` | target ${target}` : ''}`,
  );

function intentFor(ns: string, tag: string, i: number): Intent {
  return {
    intent_type: 'scaling',
    target: `${tag}-${i}`,
    namespace: ns,
    replicas: 1 + (i % 9),
    source: 'test',
  };
}

/** Times at which each NetworkIntent of the namespace was first seen ADDED, by name. */
async function watchAdded(client: KubeClient, ns: string, seen: Map<string, number>, signal: AbortSignal) {
  const stream = await client.watchStream(NetworkIntents, {
    namespace: ns,
    signal,
    allowWatchBookmarks: false,
  });
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const ev = JSON.parse(buf.slice(0, i)) as { type: string; object: { metadata: { name: string } } };
      if (ev.type === 'ADDED' && !seen.has(ev.object.metadata.name))
        seen.set(ev.object.metadata.name, performance.now());
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
  stream.on('error', () => {});
}

async function waitCount(seen: Map<string, number>, n: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (seen.size < n) {
    if (performance.now() > deadline)
      throw new Error(`only ${seen.size} of ${n} NetworkIntents after ${timeoutMs} ms`);
    await delay(5);
  }
}

/** Deleted only after the last measurement: deleting thousands of objects loads the API server. */
const namespaces: string[] = [];

async function namespace(client: KubeClient, tag: string): Promise<string> {
  const ns = `bench-${tag}-${randomBytes(3).toString('hex')}`;
  namespaces.push(ns);
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

/**
 * The baseline: NetworkIntents created directly, at most WORKERS in flight, measured exactly as
 * the loop is: by the same watch (which costs the API server the same), from due time to ADDED.
 */
async function rawCreate(client: KubeClient, ns: string, intents: Intent[], startAt?: (i: number) => number) {
  const seen = new Map<string, number>();
  const abort = new AbortController();
  await watchAdded(client, ns, seen, abort.signal);
  const due = new Map<string, number>();
  let next = 0;
  const cpu0 = await cpuSnapshot({ [process.pid]: 'bench' });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < intents.length) {
        const i = next++;
        const ni = toNetworkIntent(intents[i]!);
        // A burst arrives all at once: its latency counts the wait for a free worker, as the loop's does.
        const at = startAt ? t0 + startAt(i) : t0;
        if (at > performance.now()) await delay(at - performance.now());
        due.set(ni.metadata!.name!, at);
        await client.create(ni);
      }
    }),
  );
  await waitCount(seen, intents.length, 300_000);
  const cpu = cpuSummary(cpu0, await cpuSnapshot({ [process.pid]: 'bench' }), intents.length);
  abort.abort();
  const latencies = [...due].map(([name, at]) => seen.get(name)! - at);
  return { seconds: (Math.max(...seen.values()) - t0) / 1000, latencies, cpu };
}

/** A port free now, for the loop's /readyz. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** The loop's start-up (seconds under load, mostly module loading) is kept out of the measurement. */
async function waitReady(port: number, loop: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      if (loop.exitCode !== null) throw new Error(`conductor-loop exited with ${loop.exitCode}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true;
    },
    { description: 'conductor-loop /readyz', timeoutMs: 60_000, intervalMs: 50 },
  );
}

/** The loop under test: one process and one handoff directory for every round. */
interface RunningLoop {
  process: ChildProcess;
  dir: string;
  staging: string;
}

async function startLoop(kubeconfig: string): Promise<RunningLoop> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-handoff-'));
  // Files are written beside the directory and renamed in, as a careful producer drops them: the
  // clock then runs on the loop, not on this process writing files on a busy machine.
  const staging = await mkdtemp(join(tmpdir(), 'bench-staging-'));
  const port = await freePort();
  const loop = spawn(
    process.execPath,
    [
      ...LOOP_NODE_ARGS,
      join(ROOT, 'bin/conductor-loop.js'),
      `--handoff-dir=${dir}`,
      '--batch-interval=50ms',
      `--workers=${WORKERS}`,
      `--metrics-port=${port}`,
    ],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'ignore', 'ignore'] },
  );
  await waitReady(port, loop);
  return { process: loop, dir, staging };
}

async function stopLoop(loop: RunningLoop): Promise<void> {
  if (loop.process.exitCode === null) {
    const exited = new Promise((done) => loop.process.once('exit', done));
    loop.process.kill('SIGTERM');
    await exited; // its last state write lands before the directory goes
  }
  await rm(loop.dir, { recursive: true, force: true });
  await rm(loop.staging, { recursive: true, force: true });
}

async function loopRun(
  client: KubeClient,
  loop: RunningLoop,
  tag: string,
  count: number,
  intervalMs: number,
) {
  const ns = await namespace(client, tag);
  const seen = new Map<string, number>();
  const abort = new AbortController();
  await watchAdded(client, ns, seen, abort.signal);
  const names: string[] = [];
  const file = (i: number) => `intent-${ns}-${i}.json`;
  for (let i = 0; i < count; i++) {
    const intent = intentFor(ns, tag, i);
    names.push(toNetworkIntent(intent).metadata!.name!);
    await writeFile(join(loop.staging, file(i)), JSON.stringify(intent));
  }
  const written = new Map<string, number>();
  const names0 = { [process.pid]: 'bench', [loop.process.pid!]: 'conductor-loop' };
  const cpu0 = await cpuSnapshot(names0);
  const t0 = performance.now();
  const drop = async (i: number) => {
    written.set(names[i]!, performance.now());
    await rename(join(loop.staging, file(i)), join(loop.dir, file(i)));
  };
  if (intervalMs > 0) {
    for (let i = 0; i < count; i++) {
      const due = t0 + i * intervalMs;
      if (due > performance.now()) await delay(due - performance.now());
      await drop(i);
    }
  } else {
    // At once, as near as renames allow: back to back, a few milliseconds for the lot, and little
    // CPU taken from the loop under test (a rename through the I/O threads costs ten times more).
    for (let i = 0; i < count; i++) {
      written.set(names[i]!, performance.now());
      renameSync(join(loop.staging, file(i)), join(loop.dir, file(i)));
    }
  }
  await waitCount(seen, count, 300_000);
  const last = Math.max(...seen.values());
  const cpu = cpuSummary(cpu0, await cpuSnapshot(names0), count);
  const latencies = [...written].map(([name, at]) => seen.get(name)! - at);
  abort.abort();
  return { seconds: (last - t0) / 1000, latencies, cpu };
}

let plane: LocalControlPlane | undefined;
let kubeconfig = process.env['KUBECONFIG'];
if (!kubeconfig) {
  plane = new LocalControlPlane('bench-conductor');
  kubeconfig = await plane.up();
}
const client = await KubeClient.load(kubeconfig);
let loop: RunningLoop | undefined;
try {
  await installCrds(client, conductorCrds());
  loop = await startLoop(kubeconfig);
  const running = loop;

  // Rounds alternate which goes first (the API server slows as objects pile up), and medians are
  // compared: one round of each swings by a third on a busy machine.
  const rawRounds: Awaited<ReturnType<typeof rawCreate>>[] = [];
  const loopRounds: Awaited<ReturnType<typeof loopRun>>[] = [];
  const rawBurst = async (count: number) => {
    const rawNs = await namespace(client, 'raw');
    return rawCreate(
      client,
      rawNs,
      Array.from({ length: count }, (_, i) => intentFor(rawNs, 'raw', i)),
    );
  };
  const rawRound = async () => rawRounds.push(await rawBurst(BURST));
  const loopRound = async () => loopRounds.push(await loopRun(client, running, 'burst', BURST, 0));
  // An untimed round each first: a process's first thousands of requests also compile its code.
  await rawBurst(BURST);
  await loopRun(client, running, 'warmup', BURST, 0);
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) await rawRound().then(loopRound);
    else await loopRound().then(rawRound);
  }
  const median = <T>(xs: T[], by: (x: T) => number) =>
    [...xs].sort((a, b) => by(a) - by(b))[(xs.length - 1) >> 1]!;
  const raw = median(rawRounds, (r) => r.seconds);
  const burst = median(loopRounds, (r) => r.seconds);
  console.log(
    `# ${BURST} files dropped at once, ${WORKERS} workers, batch size 10, batch interval 50ms; median of ${ROUNDS} rounds after an untimed one` +
      ` (loop ${loopRounds.map((r) => (BURST / r.seconds).toFixed(0)).join(', ')} /s;` +
      ` baseline ${rawRounds.map((r) => (BURST / r.seconds).toFixed(0)).join(', ')} /s)`,
  );
  console.log(`# loop, median round: ${burst.cpu}`);
  console.log(`# baseline, median round: ${raw.cpu}`);
  line(
    'throughput (first file to last CR)',
    BURST / burst.seconds,
    'intents/s',
    BURST / raw.seconds,
    '>= 0.9',
  );
  line('file-to-CR latency p50', pct(burst.latencies, 50), 'ms', pct(raw.latencies, 50));
  line('file-to-CR latency p99', pct(burst.latencies, 99), 'ms', pct(raw.latencies, 99));

  const steadyCount = RATE * STEADY_SECONDS;
  const rawSteadyNs = await namespace(client, 'rawsteady');
  const rawSteady = await rawCreate(
    client,
    rawSteadyNs,
    Array.from({ length: steadyCount }, (_, i) => intentFor(rawSteadyNs, 'rawsteady', i)),
    (i) => (i * 1000) / RATE,
  );
  const steady = await loopRun(client, running, 'steady', steadyCount, 1000 / RATE);
  console.log(`# ${RATE} files/s for ${STEADY_SECONDS} s, --batch-interval 50ms`);
  line('file-to-CR latency p50', pct(steady.latencies, 50), 'ms', pct(rawSteady.latencies, 50));
  line(
    'file-to-CR latency p99',
    pct(steady.latencies, 99),
    'ms',
    pct(rawSteady.latencies, 99),
    'p99 <= 250 ms',
  );
  line('throughput', steadyCount / steady.seconds, 'intents/s', steadyCount / rawSteady.seconds);
} finally {
  if (loop) await stopLoop(loop);
  for (const ns of namespaces) await client.delete(Namespaces, ns).catch(() => {});
  client.close();
  await plane?.down();
}
