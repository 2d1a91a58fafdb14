/**
 * conductor-loop intake benchmark: 2,000 intent files dropped at once, then a steady 200 files/s
 * for 30 s with --batch-interval 50ms. Each figure is printed beside a minimal client creating the
 * same NetworkIntents with the same concurrency in the same run.
 *
 *   KUBECONFIG=… node --import tsx bench/conductor/intake.ts   (without KUBECONFIG: a plane of its own)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

const WORKERS = 4;
const BURST = 2_000;
const RATE = 200;
const STEADY_SECONDS = 30;
const ROOT = new URL('../../', import.meta.url).pathname;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
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

async function namespace(client: KubeClient, tag: string): Promise<string> {
  const ns = `bench-${tag}-${randomBytes(3).toString('hex')}`;
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

/** The baseline: NetworkIntents created directly, at most WORKERS in flight. */
async function rawCreate(client: KubeClient, intents: Intent[], startAt?: (i: number) => number) {
  const started: number[] = [];
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < intents.length) {
        const i = next++;
        const due = startAt ? t0 + startAt(i) : performance.now();
        if (due > performance.now()) await delay(due - performance.now());
        started[i] = due;
        await client.create(toNetworkIntent(intents[i]!));
        latencies[i] = performance.now() - due;
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

function startLoop(kubeconfig: string, dir: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      join(ROOT, 'bin/conductor-loop.js'),
      `--handoff-dir=${dir}`,
      '--batch-interval=50ms',
      `--workers=${WORKERS}`,
      '--metrics-port=0',
    ],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'ignore', 'ignore'] },
  );
}

async function loopRun(
  client: KubeClient,
  kubeconfig: string,
  tag: string,
  count: number,
  intervalMs: number,
) {
  const ns = await namespace(client, tag);
  const dir = await mkdtemp(join(tmpdir(), `bench-${tag}-`));
  const seen = new Map<string, number>();
  const abort = new AbortController();
  await watchAdded(client, ns, seen, abort.signal);
  const loop = startLoop(kubeconfig, dir);
  await delay(3_000); // the loop's start-up, outside the measurement
  const written = new Map<string, number>();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    if (intervalMs > 0) {
      const due = t0 + i * intervalMs;
      if (due > performance.now()) await delay(due - performance.now());
    }
    const intent = intentFor(ns, tag, i);
    written.set(toNetworkIntent(intent).metadata!.name!, performance.now());
    await writeFile(join(dir, `intent-${i}.json`), JSON.stringify(intent));
  }
  await waitCount(seen, count, 300_000);
  const last = Math.max(...seen.values());
  const latencies = [...written].map(([name, at]) => seen.get(name)! - at);
  loop.kill('SIGTERM');
  abort.abort();
  await rm(dir, { recursive: true, force: true });
  await client.delete(Namespaces, ns);
  return { seconds: (last - t0) / 1000, latencies };
}

let plane: LocalControlPlane | undefined;
let kubeconfig = process.env['KUBECONFIG'];
if (!kubeconfig) {
  plane = new LocalControlPlane('bench-conductor');
  kubeconfig = await plane.up();
}
const client = await KubeClient.load(kubeconfig);
try {
  await installCrds(client, conductorCrds());

  const rawNs = await namespace(client, 'raw');
  const raw = await rawCreate(
    client,
    Array.from({ length: BURST }, (_, i) => intentFor(rawNs, 'raw', i)),
  );
  await client.delete(Namespaces, rawNs);
  const burst = await loopRun(client, kubeconfig, 'burst', BURST, 0);
  console.log(`# ${BURST} files dropped at once, ${WORKERS} workers, batch size 10, batch interval 50ms`);
  line(
    'throughput (first file to last CR)',
    BURST / burst.seconds,
    'intents/s',
    BURST / raw.seconds,
    '>= 0.9',
  );
  line('latency p50', pct(burst.latencies, 50), 'ms', pct(raw.latencies, 50));

  const steadyCount = RATE * STEADY_SECONDS;
  const rawSteadyNs = await namespace(client, 'rawsteady');
  const rawSteady = await rawCreate(
    client,
    Array.from({ length: steadyCount }, (_, i) => intentFor(rawSteadyNs, 'rawsteady', i)),
    (i) => (i * 1000) / RATE,
  );
  await client.delete(Namespaces, rawSteadyNs);
  const steady = await loopRun(client, kubeconfig, 'steady', steadyCount, 1000 / RATE);
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
  client.close();
  await plane?.down();
}
