/**
 * The local control plane: warm start-to-Ready (target ≤ 30 s) beside the time its floor — etcd
 * and kube-apiserver alone serving /readyz — takes within the same start; and with --cold, the
 * cold build of every binary from the Go module proxy (empty caches) beside a cold `go build std`
 * on the same machine, so the figure reads as "standard-library builds".
 *   node --import tsx bench/cluster/startup.ts [--rounds 3] [--cold]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { CONTROL_PLANE_BINARIES, ensureBinaries } from '../../src/cluster/binaries.js';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { median, report } from '../support.js';

const execFileAsync = promisify(execFile);
const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, cold: { type: 'boolean', default: false } },
});

if (values.cold) {
  const scratch = await mkdtemp(join(tmpdir(), 'tutti-cold-'));
  const env = {
    ...process.env,
    GOCACHE: join(scratch, 'gocache'),
    GOMODCACHE: join(scratch, 'gomod'),
    TUTTI_CACHE_DIR: join(scratch, 'tutti'),
  };
  try {
    const s0 = performance.now();
    await execFileAsync('go', ['build', 'std'], { env });
    const std = performance.now() - s0;
    // A fresh gocache again, so the control plane build pays for its own standard library.
    const env2 = { ...env, GOCACHE: join(scratch, 'gocache2') };
    Object.assign(process.env, env2);
    const b0 = performance.now();
    await ensureBinaries([...CONTROL_PLANE_BINARIES, 'helm'], { onProgress: (m) => console.error(m) });
    report(
      'cold build of every binary',
      (performance.now() - b0) / 1000,
      's',
      'cold go build std',
      std / 1000,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
    process.exit(0);
  }
}

const plane = new LocalControlPlane('bench-startup');
await plane.down();
await ensureBinaries(CONTROL_PLANE_BINARIES);
const totals: number[] = [];
const floors: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  const t0 = performance.now();
  let apiserverReady = 0;
  await plane.up({
    onProgress: (m) => {
      if (m.startsWith('kube-apiserver ready')) apiserverReady = performance.now() - t0;
    },
  });
  totals.push(performance.now() - t0);
  floors.push(apiserverReady);
  await plane.down();
}
report(
  'warm start to Ready (nodes Ready, default ServiceAccount)',
  median(totals) / 1000,
  's',
  'etcd + kube-apiserver ready',
  median(floors) / 1000,
  '≤ 30 s',
);
