import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { createWorkload, readyReplicas } from './support.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

test('`tutti planner simulate` serves metrics from the live Deployment and takes a new load', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'planner-sim');
  await createWorkload(client, ns, 'web', 2, '400m');
  await waitFor(async () => (await readyReplicas(client, ns, 'web')) === 2, {
    description: '2 ready replicas of web',
    timeoutMs: 60_000,
  });
  const child = spawn(
    process.execPath,
    [
      TUTTI,
      'planner',
      'simulate',
      `--kubeconfig=${testKubeconfig()}`,
      `--deployment=${ns}/web`,
      '--load=50',
      '--port=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /metrics on (http:\/\/\S+)\/metrics/.exec(line);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error('tutti planner simulate exited')));
  });
  const scrape = async () => (await fetch(`${url}/metrics`)).text();
  const requests = (text: string) => Number(/^request_total\{[^}]*\} (\S+)$/m.exec(text)?.[1]);

  const first = await scrape();
  assert.match(
    first,
    new RegExp(
      `response_latency_ms_bucket\\{namespace="${ns}",deployment="web",direction="inbound",le="0.5"\\}`,
    ),
  );
  // Counters grow with the time between scrapes at the offered load.
  await waitFor(async () => requests(await scrape()) > 0, {
    description: 'requests to be counted',
    timeoutMs: 30_000,
  });

  assert.equal((await fetch(`${url}/load?rps=fast`, { method: 'PUT' })).status, 400);
  assert.equal((await fetch(`${url}/load?rps=0`, { method: 'PUT' })).status, 204);
  const stalled = requests(await scrape());
  assert.equal(requests(await scrape()), stalled, 'no load: no new requests');
});
