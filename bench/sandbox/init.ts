/**
 * Sandbox start-up and throughput on a real control plane (kwok nodes, exec runs on this machine):
 *   - init() to the first command's output, p50/p99 over N sandboxes, beside the same Job created
 *     and its Pod watched to Running with no exec (the floor the sandbox adds exec to);
 *   - sandboxes per second (init, one command, teardown) with 10 at once, beside bare Jobs
 *     (create, Pod Running, delete, gone) with 10 at once.
 *
 *   node --import tsx bench/sandbox/init.ts [--count 50] [--concurrent 10]
 * Uses $KUBECONFIG when set, else a local control plane of its own (bench-sandbox).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Jobs, Pods } from '../../src/runtime/client/kinds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { sandboxJob } from '../../src/sandbox/job.js';
import { podProgress } from '../../src/sandbox/pod-state.js';
import { KubernetesSandbox } from '../../src/sandbox/sandbox.js';
import { watchUntil } from '../../src/sandbox/watch-until.js';
import { applyRbacTo } from './rbac.js';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '50' }, concurrent: { type: 'string', default: '10' } },
});
const COUNT = Number(values.count);
const CONCURRENT = Number(values.concurrent);
const IMAGE = 'nikolaik/python-nodejs:python3.11-nodejs20-bullseye';
const NAMESPACE = 'bench-sandbox';

const plane = process.env['KUBECONFIG'] ? undefined : new LocalControlPlane('bench-sandbox');
const kubeconfig = plane ? await plane.up() : process.env['KUBECONFIG'];
const client = await KubeClient.load(kubeconfig, { fieldManager: 'bench' });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function sandboxToFirstOutput(): Promise<{ ms: number; sandbox: KubernetesSandbox }> {
  const sandbox = new KubernetesSandbox(IMAGE, NAMESPACE, { client });
  const t0 = performance.now();
  await sandbox.init();
  const r = await sandbox.runCommand('echo ready');
  const ms = performance.now() - t0;
  if (r.stdout !== 'ready\n') throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
  return { ms, sandbox };
}

let bareSeq = 0;
/** The same Job, created and watched until its Pod is Running: no exec, no sandbox bookkeeping. */
async function bareJobToRunning(): Promise<{ ms: number; name: string }> {
  const name = `bench-bare-${process.pid}-${bareSeq++}`;
  const t0 = performance.now();
  await client.create(sandboxJob({ name, namespace: NAMESPACE, image: IMAGE }));
  await watchUntil(
    client,
    Pods,
    { namespace: NAMESPACE, labelSelector: `job-name=${name}`, signal: AbortSignal.timeout(120_000) },
    (pod) => (podProgress(pod).state === 'running' ? true : undefined),
  );
  return { ms: performance.now() - t0, name };
}

async function deleteBareJob(name: string): Promise<void> {
  await client.delete(Jobs, name, NAMESPACE, { propagationPolicy: 'Background' });
  await waitFor(
    async () =>
      !(await client.find(Jobs, name, NAMESPACE)) &&
      (await client.list(Pods, { namespace: NAMESPACE, labelSelector: `job-name=${name}` })).items.length ===
        0,
    { description: `bare Job ${name} to be gone`, timeoutMs: 60_000 },
  );
}

async function pool(n: number, limit: number, fn: () => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next++ < n) await fn();
    }),
  );
  return (performance.now() - t0) / 1000;
}

const line = (what: string, value: number, unit: string, baseline: number) =>
  console.log(
    `${what}: ${value.toFixed(1)} ${unit} | baseline: ${baseline.toFixed(1)} ${unit} | ratio ${(value / baseline).toFixed(2)}`,
  );

try {
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
  await applyRbacTo(client, NAMESPACE);
  // Warm-up: discovery, connections, the scheduler's caches.
  const warm = await sandboxToFirstOutput();
  await warm.sandbox.teardown();
  await deleteBareJob((await bareJobToRunning()).name);

  const sandboxMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    // Interleaved, so both see the same cluster state.
    const s = await sandboxToFirstOutput();
    sandboxMs.push(s.ms);
    await s.sandbox.teardown();
    const b = await bareJobToRunning();
    bareMs.push(b.ms);
    await deleteBareJob(b.name);
  }
  console.log(`sandbox start-up over ${COUNT} sandboxes (one at a time)`);
  line('  init() to first output, p50', percentile(sandboxMs, 50), 'ms', percentile(bareMs, 50));
  line('  init() to first output, p99', percentile(sandboxMs, 99), 'ms', percentile(bareMs, 99));
  console.log('  (baseline: the same Job created and its Pod watched to Running, no exec)');

  const total = COUNT;
  const sandboxSeconds = await pool(total, CONCURRENT, async () => {
    const s = await sandboxToFirstOutput();
    await s.sandbox.teardown();
  });
  const bareSeconds = await pool(total, CONCURRENT, async () =>
    deleteBareJob((await bareJobToRunning()).name),
  );
  console.log(`throughput, ${total} sandboxes with ${CONCURRENT} at once (init, one command, teardown)`);
  line('  sandboxes per second', total / sandboxSeconds, '/s', total / bareSeconds);
  console.log('  (baseline: bare Jobs created, Pod Running, deleted and gone, 10 at once)');
} finally {
  await client.delete({ apiVersion: 'v1', kind: 'Namespace' }, NAMESPACE).catch(() => {});
  client.close();
  await plane?.down();
}
