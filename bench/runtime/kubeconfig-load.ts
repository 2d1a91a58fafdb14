/**
 * Cost of reaching a cluster: a fresh process imports the runtime client and loads a kubeconfig
 * with our own loader, beside the same process loading it through @kubernetes/client-node's
 * KubeConfig (what Connection.load did before), in the same run. Figures are medians of
 * `--rounds` processes each; RSS is the whole process's after loading.
 *   node --import tsx bench/runtime/kubeconfig-load.ts [--rounds 5]   (KUBECONFIG names the file)
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchCluster, percentile, report } from '../support.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const root = join(import.meta.dirname, '..', '..');
const connection = join(root, 'src', 'runtime', 'client', 'connection.ts');

const ours = `
const t0 = performance.now();
const { Connection } = await import(${JSON.stringify(connection)});
const c = await Connection.load(process.env.KC);
console.log(JSON.stringify({ ms: performance.now() - t0, rss: process.memoryUsage().rss, server: c.server.host }));
c.close();`;
const clientNode = `
const t0 = performance.now();
const { Connection } = await import(${JSON.stringify(connection)});
const { KubeConfig } = await import('@kubernetes/client-node');
const kc = new KubeConfig();
kc.loadFromFile(process.env.KC);
const c = await Connection.fromKubeConfig(kc);
console.log(JSON.stringify({ ms: performance.now() - t0, rss: process.memoryUsage().rss, server: c.server.host }));
c.close();`;

function run(script: string, kubeconfig: string): { ms: number; rss: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, KC: kubeconfig },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; rss: number };
}

const { kubeconfig, done } = await benchCluster('runtime');
try {
  const a: { ms: number; rss: number }[] = [];
  const b: { ms: number; rss: number }[] = [];
  // Interleaved, so machine load drifts over both alike.
  for (let i = 0; i < rounds; i++) {
    a.push(run(ours, kubeconfig));
    b.push(run(clientNode, kubeconfig));
  }
  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((x, y) => x - y),
      50,
    );
  report(
    'import + load kubeconfig',
    median(a.map((r) => r.ms)),
    'ms',
    'client-node KubeConfig',
    median(b.map((r) => r.ms)),
  );
  report(
    'process RSS after load',
    median(a.map((r) => r.rss)) / 2 ** 20,
    'MB',
    'client-node KubeConfig',
    median(b.map((r) => r.rss)) / 2 ** 20,
  );
} finally {
  await done();
}
