/**
 * 500 Performers created at once: time until every one is Ready, beside a minimal client creating
 * the same 500 Pods + Services directly and waiting for the Pods to be Ready, in the same run.
 * Then the operator's RSS with 500 and 5,000 Performers, beside its RSS with none.
 * Targets: Performers ≥ 0.8 of the raw speed (time ratio ≤ 1.25); RSS ≤ 150 MB at 5,000.
 *   node --expose-gc --import tsx bench/hourglass/scale.ts [--count 500] [--scale 5000] [--rounds 4] [--workers N]
 *     [--node-args="…"] (the operator's Node flags; default: the chart's nodeFlags)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parse as parseYaml } from 'yaml';
import { type Performer, Performers } from '../../src/apis/hourglass.eigenlayer.io/performer.js';
import { hourglassCrds } from '../../src/hourglass/crds.js';
import {
  buildPerformerPod,
  buildPerformerService,
  LABEL_APP,
  podRevision,
} from '../../src/hourglass/desired-state.js';
import { kubernetesConfig } from '../../src/hourglass/executor/kubernetes-config.js';
import { performerFor } from '../../src/hourglass/executor/kubernetes-manager.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Namespaces, Pods } from '../../src/runtime/client/kinds.js';
import type { Kind, KubeObject } from '../../src/runtime/client/types.js';
import { installCrds } from '../../src/runtime/crds.js';
import { Informer } from '../../src/runtime/informer.js';
import { waitFor } from '../../src/runtime/wait.js';
import {
  apiServerMetrics,
  benchCluster,
  cpuByName,
  cpuSnapshot,
  cpuSummary,
  firstSideFirst,
  median,
  pool,
  quietMachine,
  report,
} from '../support.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '500' },
    scale: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '32' },
    // Raw and operator rounds, in ABBA order; the figure is the median of each side.
    rounds: { type: 'string', default: '4' },
    // The operator's --workers; its own default when absent.
    workers: { type: 'string' },
    // The operator as its image runs it, compiled; --tsx runs the sources through tsx instead,
    // whose compiler adds ~100 MB of RSS.
    tsx: { type: 'boolean', default: false },
    // Node flags for the operator; by default those its chart runs it with (values.yaml nodeFlags).
    'node-args': { type: 'string' },
    // A directory: the API server's CPU profile of each timed round is written there (Go pprof),
    // over --pprof-seconds from its first create, so as to hold the round and what it leaves running.
    pprof: { type: 'string' },
    'pprof-seconds': { type: 'string', default: '30' },
  },
});
const count = Number(values.count);
const scale = Number(values.scale);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const TUTTI = fileURLToPath(new URL('../../bin/tutti.js', import.meta.url));

/**
 * The tutti command compiled beside its .proto files (in node_modules so that its packages
 * resolve), as close to the image's dist/ as a bench can get without a build. Split into chunks,
 * so that what a command loads only when it runs stays unloaded, as it does in dist/.
 */
async function compiledTutti(): Promise<string> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const out = join(root, 'node_modules/.cache/hourglass-bench');
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    splitting: true,
    outdir: out,
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  for (const proto of ['src/hourglass/grpc', 'src/planner/plugins'])
    for (const f of await readdir(join(root, proto)))
      if (f.endsWith('.proto')) await copyFile(join(root, proto, f), join(out, f));
  return join(out, 'main.mjs');
}

const { kubeconfig, done } = await benchCluster('hourglass');
const client = await KubeClient.load(kubeconfig, { fieldManager: 'bench' });

/** The Performer an executor asks for, built as the executor SDK builds it. */
function performer(ns: string, i: number): Performer {
  return performerFor(
    { name: `p-${i}`, avsAddress: `0xbench${i % 10}`, image: 'ghcr.io/acme/perf', version: 'v1' },
    kubernetesConfig({ namespace: ns }),
  );
}

async function freshNamespace(name: string): Promise<void> {
  if (await client.find(Namespaces, name)) {
    await client.delete(Namespaces, name);
    await waitFor(async () => !(await client.find(Namespaces, name)), {
      description: `namespace ${name} to be gone`,
      timeoutMs: 600_000,
      intervalMs: 1000,
    });
  }
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/**
 * Resolves with the time from `start` until `ready` holds for `n` objects of `kind` in `ns`, and
 * where the machine's CPU went meanwhile, per object.
 */
async function timeUntilReady<T extends KubeObject>(
  kind: Kind<T>,
  ns: string,
  n: number,
  ready: (o: T) => boolean,
  create: () => Promise<void>,
  /** With --pprof: the API server's profile of this timing (to be awaited before the next). */
  profiled = true,
): Promise<{
  ms: number;
  halfMs: number;
  cpu: string;
  cpuMs: CpuPerObject;
  profile: Promise<void> | undefined;
}> {
  const informer = new Informer(client, kind, { namespace: ns });
  informer.start();
  await informer.waitForSync();
  // Each round starts on a quiet machine: work the last one left running is no part of this one.
  const settled = await quietMachine();
  if (settled.busy >= 0.1)
    console.log(`  ${ns}: the machine is still ${(settled.busy * 100).toFixed(0)}% busy; timing anyway`);
  const names = {
    [process.pid]: 'bench',
    ...(operator?.child.pid ? { [operator.child.pid]: 'operator' } : {}),
  };
  const cpu0 = await cpuSnapshot(names);
  const t0 = performance.now();
  let readyAt = 0;
  // When each object was first seen ready: half of them ready says how long one waits.
  const firstReady = new Map<string, number>();
  const allReady = new Promise<void>((resolve) => {
    const check = (o: T) => {
      const name = o.metadata!.name!;
      if (!firstReady.has(name) && ready(o)) firstReady.set(name, performance.now());
      if (!readyAt && firstReady.size >= n) {
        readyAt = performance.now();
        resolve();
      }
    };
    informer.addHandler({ add: check, update: (_old, o) => check(o) });
  });
  // Progress once a minute, with the operator's memory when it runs: a record even of a run cut short.
  const progress = setInterval(() => {
    const done = informer.list().filter(ready).length;
    const memory = operator
      ? Promise.all([
          metric(operator.healthPort, 'process_resident_memory_bytes'),
          metric(operator.healthPort, 'nodejs_heap_size_used_bytes'),
        ]).then(
          ([rss, heap]) => `, operator RSS ${(rss / 1e6).toFixed(0)} MB, heap ${(heap / 1e6).toFixed(0)} MB`,
        )
      : Promise.resolve('');
    void memory.then(
      (m) =>
        console.log(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${done}/${n} ${kind.kind}${m}`),
      () => {},
    );
  }, 60_000);
  const profile = values.pprof && profiled ? apiServerProfile(join(values.pprof, `${ns}.pb.gz`)) : undefined;
  // Awaited by the round; caught here so that a failure waits for it rather than crash the bench.
  profile?.catch(() => {});
  await create();
  try {
    await Promise.race([
      allReady,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`${n} ${kind.kind} in ${ns} not ready after 45 min`)),
          2_700_000,
        ).unref(),
      ),
    ]);
  } finally {
    clearInterval(progress);
  }
  const cpu1 = await cpuSnapshot(names);
  const byName = cpuByName(cpu0, cpu1);
  const cpuMs = {
    machine: [...byName.values()].reduce((a, b) => a + b, 0) / n,
    operator: (byName.get('operator') ?? 0) / n,
  };
  await informer.stop();
  const halfMs = median([...firstReady.values()]) - t0;
  return { ms: readyAt - t0, halfMs, cpu: cpuSummary(cpu0, cpu1, n, 8), cpuMs, profile };
}

/** The API server's CPU profile over the next --pprof-seconds, written to `file` (`go tool pprof`). */
async function apiServerProfile(file: string): Promise<void> {
  const seconds = Number(values['pprof-seconds']);
  try {
    const res = await client.transport.stream({
      method: 'GET',
      path: `/debug/pprof/profile?seconds=${seconds}`,
      timeoutMs: (seconds + 30) * 1000,
    });
    await mkdir(dirname(file), { recursive: true });
    await pipeline(res, createWriteStream(file));
  } catch (err) {
    throw new Error(
      `--pprof: no CPU profile from the API server (is it run with --profiling=false?): ${err}`,
    );
  }
}

const API_CPU = 'cpu';

/**
 * The API server's request counters (apiserver_request_total), summed by resource, subresource and
 * verb, and its CPU seconds.
 */
async function apiRequests(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await apiServerMetrics(client)).split('\n')) {
    if (line.startsWith('process_cpu_seconds_total ')) counts.set(API_CPU, Number(line.split(' ')[1]));
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (l: string) => new RegExp(`${l}="([^"]*)"`).exec(line)?.[1] ?? '';
    const verb = label('verb');
    if (verb === 'WATCH' || verb === 'CONNECT') continue;
    const resource = label('resource');
    const sub = label('subresource');
    // What the operator path or the raw client asks for; not kwok's Pod status or the scheduler's bindings.
    if (!['performers', 'pods', 'services', 'events'].includes(resource)) continue;
    if (resource === 'pods' && sub !== '') continue;
    const key = `${verb} ${resource}${sub ? `/${sub}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** The requests made between two counter snapshots, per object created, as one line. */
function requestsPer(before: Map<string, number>, after: Map<string, number>, n: number): string {
  const cpu = ((after.get(API_CPU) ?? 0) - (before.get(API_CPU) ?? 0)) / n;
  const rows = [...after]
    .filter(([k]) => k !== API_CPU)
    .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / n] as const)
    .filter(([, v]) => v >= 0.01)
    .sort(([a], [b]) => a.localeCompare(b));
  const writes = rows.filter(([k]) => !/^(GET|LIST) /.test(k)).reduce((sum, [, v]) => sum + v, 0);
  return `${writes.toFixed(2)} writes and ${(cpu * 1000).toFixed(0)} ms of API server CPU each (${rows.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`;
}

const podReady = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

interface Operator {
  child: ChildProcess;
  healthPort: number;
}

/** The Node flags the hourglass-operator chart runs the operator with. */
async function chartNodeFlags(): Promise<string[]> {
  const values = new URL('../../charts/hourglass-operator/values.yaml', import.meta.url);
  return (parseYaml(await readFile(values, 'utf8')) as { nodeFlags?: string[] }).nodeFlags ?? [];
}

async function startOperator(): Promise<Operator> {
  const child = spawn(
    process.execPath,
    [
      ...(values['node-args'] === undefined
        ? await chartNodeFlags()
        : values['node-args'].split(' ').filter(Boolean)),
      values.tsx ? TUTTI : await compiledTutti(),
      'hourglass-operator',
      `--kubeconfig=${kubeconfig}`,
      '--health-port=0',
      '--leader-elect=false',
      ...(values.workers ? [`--workers=${values.workers}`] : []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TUTTI_LOG_LEVEL: 'info' } },
  );
  const lines = createInterface({ input: child.stderr! });
  const healthPort = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hourglass-operator exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const e = JSON.parse(line) as { msg?: string; healthPort?: number };
        if (e.msg === 'operator running' && e.healthPort) resolve(e.healthPort);
      } catch {
        // not a log line
      }
    });
  });
  return { child, healthPort };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Every series of one metric of the operator's, summed. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

const WORK_METRICS = [
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_errors_total',
  'controller_runtime_reconcile_time_seconds_sum',
  'workqueue_queue_duration_seconds_sum',
  'workqueue_queue_duration_seconds_count',
  'process_cpu_seconds_total',
] as const;

async function operatorWork(port: number): Promise<number[]> {
  return Promise.all(WORK_METRICS.map((m) => metricSum(port, m)));
}

/** What the operator did between two readings of its metrics, as one line. */
function workDone(before: number[], after: number[]): string {
  const [reconciles, errors, reconcileS, queuedS, dequeued, cpuS] = after.map((v, i) => v - before[i]!) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return `${reconciles} reconciles (${errors} failed), ${((reconcileS / reconciles) * 1000).toFixed(0)} ms each on average, ${((queuedS / dequeued) * 1000).toFixed(0)} ms queued on average, ${cpuS.toFixed(1)} s of CPU`;
}

/** The operator's RSS once its work queue has been empty for a while: its steady state. */
async function settledMemory(op: Operator): Promise<{ rss: number; heap: number }> {
  await waitFor(async () => (await metric(op.healthPort, 'workqueue_depth')) === 0, {
    description: 'the operator queue to drain',
    timeoutMs: 2_700_000,
    intervalMs: 1000,
  });
  let rss = 0;
  let heap = 0;
  for (let i = 0; i < 5; i++) {
    rss = Math.max(rss, await metric(op.healthPort, 'process_resident_memory_bytes'));
    heap = Math.max(heap, await metric(op.healthPort, 'nodejs_heap_size_used_bytes'));
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { rss, heap };
}

let operator: Operator | undefined;

/** Deletes a namespace and waits until it is gone, so that its deletions load no later round. */
async function dropNamespace(ns: string): Promise<void> {
  await client.delete(Namespaces, ns);
  await waitFor(async () => !(await client.find(Namespaces, ns)), {
    description: `namespace ${ns} to be gone`,
    timeoutMs: 600_000,
    intervalMs: 1000,
  });
}

/** The CPU every process used per object, and the operator's part of it. */
interface CpuPerObject {
  machine: number;
  operator: number;
}

interface Round {
  ms: number;
  halfMs: number;
  cpu: string;
  cpuMs: CpuPerObject;
  requests: string;
  work?: string;
}

/**
 * The CPU ratio of a round had the operator cost nothing (its CPU taken off both sides): on a
 * saturated machine the time follows the CPU, so this bounds what the operator's own code can gain.
 */
function withoutOperator(op: Round, raw: Round): number {
  return (op.cpuMs.machine - op.cpuMs.operator) / (raw.cpuMs.machine - raw.cpuMs.operator);
}

const RAW_APP = 'hourglass-bench-raw';

/** The baseline: the operator's own Pod and Service for each Performer, created directly. */
async function rawRound(ns: string): Promise<Round> {
  await freshNamespace(ns);
  const before = await apiRequests();
  const { ms, halfMs, cpu, cpuMs, profile } = await timeUntilReady(Pods, ns, count, podReady, () =>
    pool(
      Array.from({ length: count }, (_, i) => i),
      concurrency,
      async (i) => {
        const p = { ...performer(ns, i), metadata: { name: `p-${i}`, namespace: ns, uid: 'none' } };
        const pod = buildPerformerPod(p);
        const service = buildPerformerService(p, podRevision(pod.spec!));
        // No owner: the garbage collector would delete children of a Performer that is not there.
        // Another app label, in the selector too: the operator's caches would otherwise take the
        // Pods in and charge this round for it.
        for (const o of [pod, service]) {
          o.metadata!.ownerReferences = undefined;
          o.metadata!.labels![LABEL_APP] = RAW_APP;
        }
        service.spec!.selector![LABEL_APP] = RAW_APP;
        await client.create(pod);
        await client.create(service);
      },
    ),
  );
  const requests = requestsPer(before, await apiRequests(), count);
  await profile;
  await dropNamespace(ns);
  return { ms, halfMs, cpu, cpuMs, requests };
}

/** 500 Performers created at once, until all are Ready; `keep` leaves them for the memory figures. */
async function operatorRound(op: Operator, ns: string, keep: boolean): Promise<Round> {
  await freshNamespace(ns);
  const before = await apiRequests();
  const workBefore = await operatorWork(op.healthPort);
  const { ms, halfMs, cpu, cpuMs, profile } = await timeUntilReady(
    Performers,
    ns,
    count,
    (p) => p.status?.ready === true,
    () =>
      pool(
        Array.from({ length: count }, (_, i) => i),
        concurrency,
        (i) => client.create(performer(ns, i)),
      ),
  );
  const requests = requestsPer(before, await apiRequests(), count);
  const work = workDone(workBefore, await operatorWork(op.healthPort));
  await profile;
  if (!keep) await dropNamespace(ns);
  return { ms, halfMs, cpu, cpuMs, requests, work };
}

try {
  await installCrds(client, hourglassCrds());
  operator = await startOperator();
  const idle = await settledMemory(operator);
  // Rounds in ABBA order (raw, operator, operator, raw, …): a drift of the machine over the run
  // weighs on both sides alike. Each round has a namespace of its own, gone before the next.
  const raws: Round[] = [];
  const ops: Round[] = [];
  const opNs = (r: number) => `hg-bench-op-${r}`;
  // An untimed round each first: a process's first thousands of requests also compile its code.
  await rawRound('hg-bench-raw-warm');
  await operatorRound(operator, 'hg-bench-op-warm', false);
  for (let r = 0; r < rounds; r++) {
    const rawFirst = firstSideFirst(r);
    for (const side of rawFirst ? ['raw', 'op'] : ['op', 'raw']) {
      if (side === 'raw') raws.push(await rawRound(`hg-bench-raw-${r}`));
      else ops.push(await operatorRound(operator, opNs(r), r === rounds - 1));
    }
    const [raw, op] = [raws.at(-1)!, ops.at(-1)!];
    console.log(
      `round ${r + 1}: Performers ${(op.ms / 1000).toFixed(1)} s, Pods + Services ${(raw.ms / 1000).toFixed(1)} s, ratio ${(op.ms / raw.ms).toFixed(2)}; half of them ready at ${(op.halfMs / 1000).toFixed(1)} s and ${(raw.halfMs / 1000).toFixed(1)} s`,
    );
    console.log(`  API requests per Pod + Service created directly: ${raw.requests}`);
    console.log(`  API requests per Performer until Ready: ${op.requests}`);
    console.log(`  operator until all Ready: ${op.work}`);
    console.log(`  Pods + Services directly: ${raw.cpu}`);
    console.log(`  Performers: ${op.cpu}`);
    console.log(
      `  machine CPU per object: Performer ${op.cpuMs.machine.toFixed(1)} ms (the operator ${op.cpuMs.operator.toFixed(1)}), Pod + Service ${raw.cpuMs.machine.toFixed(1)} ms; ratio ${(op.cpuMs.machine / raw.cpuMs.machine).toFixed(2)}, without the operator's own CPU ${withoutOperator(op, raw).toFixed(2)}`,
    );
  }
  const at500 = await settledMemory(operator);

  console.log(
    `${count} performers, ${concurrency} creates in flight, operator workers: ${values.workers ?? 'default'}, median of ${rounds} rounds after an untimed one`,
  );
  report(
    'Performers until all Ready',
    median(ops.map((o) => o.ms)) / 1000,
    's',
    'Pods + Services directly',
    median(raws.map((o) => o.ms)) / 1000,
    '≤ 1.25 (≥ 0.8 of raw speed)',
  );
  report(
    'half of the Performers Ready',
    median(ops.map((o) => o.halfMs)) / 1000,
    's',
    'half of the Pods Ready',
    median(raws.map((o) => o.halfMs)) / 1000,
  );
  const bounds = raws.map((raw, i) => withoutOperator(ops[i]!, raw));
  console.log(
    `machine CPU ratio had the operator cost nothing, median of the rounds: ${median(bounds).toFixed(2)} (rounds ${bounds.map((b) => b.toFixed(2)).join(', ')})`,
  );
  report(
    `operator RSS, ${count} Performers`,
    at500.rss / 1e6,
    'MB',
    'the operator with none',
    idle.rss / 1e6,
  );
  report(
    `operator heap used, ${count} Performers`,
    at500.heap / 1e6,
    'MB',
    'the operator with none',
    idle.heap / 1e6,
  );

  if (scale > count) {
    const t0 = performance.now();
    const { ms: scaleMs } = await timeUntilReady(
      Performers,
      opNs(rounds - 1),
      scale,
      // Every Performer has its Pod and Service: the caches hold all of them. Waiting for 5,000
      // kwok Pods to turn Ready measures the plane, not the operator.
      (p) => p.status?.observedGeneration !== undefined,
      () =>
        pool(
          Array.from({ length: scale - count }, (_, i) => count + i),
          concurrency,
          (i) => client.create(performer(opNs(rounds - 1), i)),
        ),
      false,
    );
    const atScale = await settledMemory(operator);
    console.log(
      `${scale} performers: every one with a Pod and Service ${(scaleMs / 1000).toFixed(0)} s after the first extra create, the queue empty after ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    report(
      `operator RSS, ${scale} Performers`,
      atScale.rss / 1e6,
      'MB',
      'the operator with none',
      idle.rss / 1e6,
      '≤ 150 MB',
    );
    report(
      `operator heap used, ${scale} Performers`,
      atScale.heap / 1e6,
      'MB',
      'the operator with none',
      idle.heap / 1e6,
    );
  }
} finally {
  if (operator) {
    operator.child.kill('SIGTERM');
    await once(operator.child, 'exit');
  }
  client.close();
  await done();
}
