import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../src/cluster/ports.js';
import { waitFor } from '../../src/runtime/wait.js';

export { freePort };

export interface TestPrometheus {
  /** The instant-query URL, as a KPIProfile's props.endpoint names it. */
  queryUrl: string;
  /** Stops the server (idempotent); the test's end stops it too. */
  stop(): Promise<void>;
}

/**
 * A real Prometheus (Debian's package) scraping `targets` (host:port) every second on loopback,
 * with its data in a temporary directory; stopped and cleaned up when the test ends.
 */
export async function startPrometheus(t: TestContext, targets: readonly string[]): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-prom-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: workload',
    '    static_configs:',
    `      - targets: [${targets.map((x) => JSON.stringify(x)).join(', ')}]`,
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), `${config}\n`);
  const child: ChildProcess = spawn(
    process.env['TUTTI_PROMETHEUS'] ?? 'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  t.after(stop);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
      return (await fetch(`${base}/-/ready`).catch(() => undefined))?.ok;
    },
    { description: 'prometheus to be ready', timeoutMs: 60_000, intervalMs: 200 },
  );
  return { queryUrl: `${base}/api/v1/query`, stop };
}
