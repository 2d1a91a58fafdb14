/** The local control plane's own behaviour, on planes of this file's own. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalControlPlane } from '../../src/cluster/control-plane.js';
import { freePort } from '../../src/cluster/ports.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Nodes } from '../../src/runtime/client/kinds.js';
import { startTutti } from '../support/command.js';

test('ports are chosen outside the range the kernel gives outgoing connections', async (t) => {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const [lo, hi] = range.trim().split(/\s+/).map(Number);
  if (!lo || !hi) {
    t.skip('the kernel does not say its ephemeral port range here');
    return;
  }
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    assert.ok(port < lo || port > hi, `${port} is outside ${lo}-${hi}`);
  }
});

test('a port taken between its choice and its bind: the plane starts again on other ports', async (t) => {
  if (!process.env['TUTTI_TEST_CLUSTER']) {
    t.skip('needs a local control plane (TUTTI_TEST_KUBECONFIG names an external cluster)');
    return;
  }
  const plane = new LocalControlPlane(`${process.env['TUTTI_TEST_CLUSTER']}-ports`);
  t.after(() => plane.down());
  const progress: string[] = [];
  let squatter: Server | undefined;
  t.after(() => squatter?.close());
  const kubeconfig = await plane.up({
    onProgress: (line) => {
      progress.push(line);
      // Once the API server is up, and before kwok starts, something else binds kwok's port.
      if (line === 'kube-apiserver ready' && !squatter) {
        const state = JSON.parse(readFileSync(join(plane.dir, 'state.json'), 'utf8'));
        squatter = createServer().listen(state.ports.kwok, '127.0.0.1');
      }
    },
  });
  assert.ok(squatter?.listening, `the test took kwok's port (progress: ${progress.join(' | ')})`);
  assert.ok(progress.includes('a port was taken while the plane started; starting again on other ports'));
  const state = JSON.parse(await readFile(join(plane.dir, 'state.json'), 'utf8'));
  assert.notEqual(state.ports.kwok, (squatter!.address() as { port: number }).port);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  assert.ok((await client.list(Nodes)).items.length > 0, 'the simulated nodes are there');
});

test('Ctrl-C while `tutti cluster up` starts the plane stops what had started, rather than leaving half a plane running', async (t) => {
  if (!process.env['TUTTI_TEST_CLUSTER']) {
    t.skip('needs a local control plane (TUTTI_TEST_KUBECONFIG names an external cluster)');
    return;
  }
  const name = `${process.env['TUTTI_TEST_CLUSTER']}-interrupted`;
  const plane = new LocalControlPlane(name);
  t.after(() => plane.down());
  const starting = await startTutti(t, ['cluster', 'up', '--name', name], /etcd ready/);
  assert.equal(await starting.stop('SIGINT'), 130, starting.output());
  assert.match(
    starting.output(),
    new RegExp(`tutti cluster up: interrupted while cluster "${name}" started; it is stopped`),
  );
  const status = await plane.status();
  assert.deepEqual(
    status.components.filter((c) => c.running).map((c) => c.component),
    [],
    'no component is left running',
  );
  // The next start is not held up by a lock of the interrupted one.
  const kubeconfig = await plane.up();
  assert.equal((await plane.status()).ready, true, kubeconfig);
});
