/**
 * `tutti up`, the README's first command: a local control plane of its own (or the cluster that
 * KUBECONFIG names, in the context asked for), every CRD, every module's controllers, and a clean
 * stop on Ctrl-C. Runs on a plane of its own: its controllers act cluster-wide and must not
 * disturb the tests that share the run's plane.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Performer, Performers } from '../../src/apis/hourglass.eigenlayer.io/performer.js';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { CustomResourceDefinitions, Leases } from '../../src/runtime/client/kinds.js';
import { CRD_DIR, readCrds } from '../../src/runtime/crds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { twoContextKubeconfig } from '../support/cluster.js';

const TUTTI = fileURLToPath(new URL('../../bin/tutti.js', import.meta.url));

interface Running {
  child: ChildProcess;
  stderr: () => string;
  healthPort: number;
  kubeconfig: string;
}

/** Starts `tutti up` and resolves once it says it is running. */
async function up(args: string[], env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, [TUTTI, 'up', '--health-port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  let exited = false;
  child.once('exit', () => (exited = true));
  const banner = await waitFor(
    () => exited || (/health and metrics on :(\d+)[\s\S]*export KUBECONFIG=(\S+)/.exec(stderr) ?? undefined),
    { description: 'tutti up to say it is running', timeoutMs: 180_000, intervalMs: 200 },
  );
  if (banner === true) throw new Error(`tutti up exited before it ran:\n${stderr}`);
  return { child, stderr: () => stderr, healthPort: Number(banner[1]), kubeconfig: banner[2]! };
}

/** Ctrl-C: resolves with the exit code once the process is gone. */
async function interrupt(r: Running): Promise<number | null> {
  const exit = once(r.child, 'exit');
  r.child.kill('SIGINT');
  const [code] = await exit;
  return code as number | null;
}

test('tutti up: its own local control plane, every CRD, every controller, a clean stop; then a chosen context of KUBECONFIG', async (t) => {
  if (!process.env['TUTTI_TEST_CLUSTER']) {
    t.skip('needs a local control plane (TUTTI_TEST_KUBECONFIG names an external cluster)');
    return;
  }
  const name = `${process.env['TUTTI_TEST_CLUSTER']}-up`;
  t.after(() => new LocalControlPlane(name).down());
  const first = await up(['--name', name], { KUBECONFIG: '' });
  t.after(() => first.child.kill('SIGKILL'));
  assert.match(first.stderr(), new RegExp(`local control plane "${name}" is ready`));
  assert.match(first.stderr(), /the local control plane keeps running/);

  const readyz = await fetch(`http://127.0.0.1:${first.healthPort}/readyz`);
  assert.equal(readyz.status, 200);
  const client = await KubeClient.load(first.kubeconfig, { fieldManager: 'tutti-test' });
  t.after(() => client.close());
  const wanted = (await readCrds(fileURLToPath(CRD_DIR))).map((c) => c.metadata!.name!);
  assert.ok(wanted.length >= 9);
  const established = (await client.list(CustomResourceDefinitions)).items
    .filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))
    .map((c) => c.metadata!.name!);
  for (const crd of wanted) assert.ok(established.includes(crd), `${crd} is installed and Established`);

  // The modules' controllers act: a Performer gets its Pod, and its status says so.
  await client.create<Performer>({
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name: 'up-check', namespace: 'default' },
    spec: { avsAddress: '0xUP', image: 'ghcr.io/acme/performer:v1' },
  });
  const ready = await waitFor(
    async () => {
      const p = await client.get(Performers, 'up-check', 'default');
      return p.status?.ready ? p : undefined;
    },
    { description: 'the Performer made on `tutti up` to be ready', timeoutMs: 60_000 },
  );
  assert.equal(ready.status?.phase, 'Running');
  assert.equal(ready.status?.grpcEndpoint, 'performer-up-check.default.svc.cluster.local:9090');

  const lease = await client.get(Leases, 'tutti-operator', 'tutti-system');
  assert.ok(lease.spec?.holderIdentity, 'the running operator holds the lease');
  assert.equal(await interrupt(first), 0);
  const released = await client.get(Leases, 'tutti-operator', 'tutti-system');
  assert.ok(!released.spec?.holderIdentity, 'Ctrl-C releases the lease for the next leader');

  // KUBECONFIG names a cluster: no plane is started, and --context picks the context. As with
  // kubectl, KUBECONFIG may list several files, some of them absent.
  const kubeconfig = `${join(tmpdir(), 'tutti-absent.yaml')}:${await twoContextKubeconfig(t, first.kubeconfig)}`;
  const second = await up(['--context', 'plane'], { KUBECONFIG: kubeconfig });
  t.after(() => second.child.kill('SIGKILL'));
  assert.ok(
    second.stderr().includes(`using the cluster in KUBECONFIG=${kubeconfig} (context plane)`),
    second.stderr(),
  );
  assert.match(second.stderr(), /kubectl --context plane get nodes/);
  assert.doesNotMatch(second.stderr(), /local control plane/);
  assert.equal((await fetch(`http://127.0.0.1:${second.healthPort}/readyz`)).status, 200);
  assert.equal(await interrupt(second), 0);
});
