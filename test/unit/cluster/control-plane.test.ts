/** The local control plane's failure modes that need no real components: fake binaries, dead pids. */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalControlPlane } from '../../../src/cluster/control-plane.js';
import { freePort } from '../../../src/cluster/ports.js';
import { waitFor } from '../../../src/runtime/wait.js';

/** Points the state directory (and the binaries) at a fresh temporary directory for one test. */
async function sandboxDirs(t: { after(fn: () => unknown): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'tutti-plane-'));
  const saved = { state: process.env['TUTTI_STATE_DIR'], bin: process.env['TUTTI_BIN_DIR'] };
  process.env['TUTTI_STATE_DIR'] = join(root, 'state');
  t.after(async () => {
    for (const [key, value] of [
      ['TUTTI_STATE_DIR', saved.state],
      ['TUTTI_BIN_DIR', saved.bin],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await rm(root, { recursive: true, force: true });
  });
  return root;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('down of a plane whose processes died, one of its ports now used by another program: it is removed', async (t) => {
  await sandboxDirs(t);
  const plane = new LocalControlPlane('dead-plane');
  // Another program took the API server's port after the plane died.
  const other = createServer();
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => other.close());
  const taken = (other.address() as { port: number }).port;
  const ports = {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    apiserver: taken,
    controllerManager: await freePort(),
    scheduler: await freePort(),
    kwok: await freePort(),
  };
  // Pid 1 runs, but not since these start times: every record names a process that is gone.
  const gone = { pid: 1, startTicks: -1, binary: '/bin/false', args: [], log: '/dev/null' };
  await mkdir(plane.dir, { recursive: true });
  await writeFile(
    join(plane.dir, 'state.json'),
    JSON.stringify({
      name: plane.name,
      kubernetesVersion: 'v1.0.0',
      createdAt: new Date().toISOString(),
      ports,
      kubeconfig: plane.kubeconfigPath,
      logDir: plane.logDir,
      processes: { etcd: { ...gone, name: 'etcd' }, 'kube-apiserver': { ...gone, name: 'kube-apiserver' } },
    }),
  );

  await plane.down();

  assert.equal((await plane.status()).exists, false);
});

test('a start that cannot write its state stops the component it had just started', async (t) => {
  const root = await sandboxDirs(t);
  const bin = join(root, 'bin');
  await mkdir(bin);
  process.env['TUTTI_BIN_DIR'] = bin;
  for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']) {
    await writeFile(join(bin, name), `#!/bin/sh\necho $$ > ${join(root, `${name}.pid`)}\nexec sleep 600\n`);
    await chmod(join(bin, name), 0o755);
  }
  const plane = new LocalControlPlane('unsaved-plane');
  // The state file cannot be written (as on a full disk): its temporary file's name is a directory.
  await mkdir(join(plane.dir, 'state.json.tmp'), { recursive: true });

  await assert.rejects(plane.up());

  const pid = Number(
    await waitFor(() => readFile(join(root, 'etcd.pid'), 'utf8').catch(() => undefined), {
      description: 'the fake etcd to write its pid',
      timeoutMs: 10_000,
    }),
  );
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  await waitFor(() => !alive(pid), { description: `etcd (pid ${pid}) to be stopped`, timeoutMs: 15_000 });
});
