/**
 * Informer sync of 5,000 ConfigMaps (time and heap) beside `kubectl get configmaps -A -o json`
 * of the same set in the same run. Targets: sync ≤ 1.5 × kubectl's time; heap < 3 × the JSON.
 *   node --expose-gc --import tsx bench/runtime/informer-sync.ts [--count 5000]
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { ConfigMaps } from '../../src/runtime/client/kinds.js';
import { Informer } from '../../src/runtime/informer.js';
import { benchCluster, pool, report } from '../support.js';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({
  options: { count: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' } },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc to measure heap');

const { kubeconfig, done } = await benchCluster('runtime');
const client = await KubeClient.load(kubeconfig, { fieldManager: 'bench' });
try {
  const namespaces = Array.from({ length: 10 }, (_, i) => `bench-cm-${i}`);
  for (const ns of namespaces)
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const existing = (await client.listAll(ConfigMaps, { labelSelector: 'tutti.dev/bench=informer' })).items
    .length;
  const payload = 'x'.repeat(512);
  const toCreate = Array.from({ length: Math.max(0, count - existing) }, (_, i) => existing + i);
  const t0 = performance.now();
  await pool(toCreate, 64, (i) =>
    client.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `cm-${i}`,
        namespace: namespaces[i % namespaces.length],
        labels: { 'tutti.dev/bench': 'informer' },
      },
      data: { index: String(i), payload },
    }),
  );
  if (toCreate.length)
    console.log(`created ${toCreate.length} ConfigMaps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const kubectlTimes: number[] = [];
  let jsonBytes = 0;
  const syncTimes: number[] = [];
  const heaps: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const k0 = performance.now();
    const { stdout } = await execFileAsync(
      'kubectl',
      ['--kubeconfig', kubeconfig, 'get', 'configmaps', '-A', '-o', 'json', '-l', 'tutti.dev/bench=informer'],
      {
        maxBuffer: 1 << 30,
      },
    );
    kubectlTimes.push(performance.now() - k0);
    jsonBytes = Buffer.byteLength(stdout);

    const s0 = performance.now();
    const held = {
      informer: new Informer(client, ConfigMaps, { labelSelector: 'tutti.dev/bench=informer' }),
    } as {
      informer?: Informer<ConfigMap>;
    };
    held.informer!.start();
    await held.informer!.waitForSync();
    syncTimes.push(performance.now() - s0);
    const cached = held.informer!.list().length;
    if (cached < count) throw new Error(`informer holds ${cached} of ${count}`);
    // The cache's cost: heap with the informer alive minus heap once it is gone.
    gc();
    const withCache = process.memoryUsage().heapUsed;
    await held.informer!.stop();
    held.informer = undefined;
    gc();
    heaps.push(withCache - process.memoryUsage().heapUsed);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${count} ConfigMaps, ${(jsonBytes / 1e6).toFixed(1)} MB as JSON, median of ${rounds} rounds`);
  report(
    'informer sync time',
    median(syncTimes),
    'ms',
    'kubectl get -A -o json',
    median(kubectlTimes),
    '≤ 1.5',
  );
  report('informer heap', median(heaps) / 1e6, 'MB', 'objects as JSON', jsonBytes / 1e6, '< 3');
} finally {
  client.close();
  await done();
}
