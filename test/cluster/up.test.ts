/**
 * `tutti up`, the README's first command: a local control plane of its own (or the cluster that
 * KUBECONFIG names, in the context asked for), every CRD, every module's controllers, and a clean
 * stop on Ctrl-C. Runs on a plane of its own: its controllers act cluster-wide and must not
 * disturb the tests that share the run's plane.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Performer, Performers } from '../../src/apis/hourglass.eigenlayer.io/performer.js';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { CustomResourceDefinitions, Leases } from '../../src/runtime/client/kinds.js';
import { CRD_DIR, readCrds } from '../../src/runtime/crds.js';
import { waitFor } from '../../src/runtime/wait.js';
import { twoContextKubeconfig } from '../support/cluster.js';
import { startTutti } from '../support/command.js';

const TUTTI = fileURLToPath(new URL('../../bin/tutti.js', import.meta.url));

/** Starts `tutti up` and resolves once it says it is ready, with its health port and kubeconfig. */
async function up(t: TestContext, args: string[], env: NodeJS.ProcessEnv) {
  const running = await startTutti(
    t,
    ['up', '--health-port', '0', ...args],
    /Tutti is ready: .*health and metrics on :(\d+)[\s\S]*export KUBECONFIG=(\S+)/,
    env,
  );
  return { ...running, healthPort: Number(running.ready[1]), kubeconfig: running.ready[2]! };
}

test('tutti up: its own local control plane, every CRD, every controller, a clean stop; then a chosen context of KUBECONFIG', async (t) => {
  if (!process.env['TUTTI_TEST_CLUSTER']) {
    t.skip('needs a local control plane (TUTTI_TEST_KUBECONFIG names an external cluster)');
    return;
  }
  const name = `${process.env['TUTTI_TEST_CLUSTER']}-up`;
  t.after(() => new LocalControlPlane(name).down());
  const first = await up(t, ['--name', name], { KUBECONFIG: '' });
  assert.match(first.output(), new RegExp(`local control plane "${name}" is ready`));
  assert.match(first.output(), /the local control plane keeps running/);
  // Ready means ready: the banner comes after the caches synced and the controllers started,
  // and (stderr being no terminal here) the log lines are JSON, as in a Pod.
  const banner = first.output().indexOf('Tutti is ready');
  for (const line of ['"msg":"caches synced"', '"msg":"controllers started"']) {
    const at = first.output().indexOf(line);
    assert.ok(at >= 0 && at < banner, `${line} comes before the banner:\n${first.output()}`);
  }

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

  // A second Tutti on the same health port is told which flag to change.
  const rival = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const env = { ...process.env, KUBECONFIG: first.kubeconfig };
    const args = [TUTTI, 'up', '--health-port', String(first.healthPort)];
    execFile(process.execPath, args, { env, timeout: 60_000 }, (err, _out, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
    );
  });
  assert.equal(rival.code, 1, rival.stderr);
  assert.ok(
    rival.stderr.includes(
      `tutti up: --health-port ${first.healthPort} is in use (is another Tutti running?); choose another port, or 0 for any free one`,
    ),
    rival.stderr,
  );

  const lease = await client.get(Leases, 'tutti-operator', 'tutti-system');
  assert.ok(lease.spec?.holderIdentity, 'the running operator holds the lease');
  // A second Tutti on the cluster does not claim to be ready while the first runs the
  // controllers: it says who holds the lease, and is ready once the first stops.
  const second = await startTutti(
    t,
    ['up', '--health-port', '0'],
    /the controllers start once this process leads: lease tutti-system\/tutti-operator is held by "([^"]+)"/,
    { KUBECONFIG: first.kubeconfig },
  );
  assert.equal(second.ready[1], lease.spec?.holderIdentity);
  assert.doesNotMatch(second.output(), /Tutti is ready/);
  assert.equal(await first.stop('SIGINT'), 0);
  await waitFor(() => /Tutti is ready/.test(second.output()), {
    description: 'the second `tutti up` to be ready once the first released the lease',
    timeoutMs: 60_000,
  });
  const taken = await client.get(Leases, 'tutti-operator', 'tutti-system');
  assert.notEqual(taken.spec?.holderIdentity, lease.spec?.holderIdentity, 'the second Tutti leads now');
  assert.equal(await second.stop('SIGINT'), 0);
  const released = await client.get(Leases, 'tutti-operator', 'tutti-system');
  assert.ok(!released.spec?.holderIdentity, 'Ctrl-C releases the lease for the next leader');

  // KUBECONFIG names a cluster: no plane is started, and --context picks the context. As with
  // kubectl, KUBECONFIG may list several files, some of them absent.
  const kubeconfig = `${join(tmpdir(), 'tutti-absent.yaml')}:${await twoContextKubeconfig(t, first.kubeconfig)}`;
  // --log-format text: the lines a person reads at a terminal, no JSON.
  const third = await up(t, ['--context', 'plane', '--log-format', 'text', '--name', 'elsewhere'], {
    KUBECONFIG: kubeconfig,
  });
  assert.ok(
    third.output().includes(`using the cluster in KUBECONFIG=${kubeconfig} (context plane)`),
    third.output(),
  );
  assert.match(third.output(), /--name elsewhere is not used: KUBECONFIG is set/);
  assert.match(third.output(), /kubectl --context plane get nodes/);
  assert.doesNotMatch(third.output(), /local control plane/);
  assert.match(
    third.output(),
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}operator caches synced informers=\d+ controllers=\d+$/m,
  );
  assert.doesNotMatch(third.output(), /"level"/);
  assert.equal((await fetch(`http://127.0.0.1:${third.healthPort}/readyz`)).status, 200);
  assert.equal(await third.stop('SIGINT'), 0);
});
