import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { CLAIMS_DIR, ClaimRegistry } from '../../../src/conductor/claims.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { dropIntent, errorReports, handoffDir, intent, loopProcess, readState } from './support.js';

/** The claim key of a file's content, as the loop names it. */
async function claimKey(path: string, file: string): Promise<string> {
  const sha = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  return `${file}@${sha.slice(0, 16)}`;
}

/**
 * An API server that accepts connections and never answers, and a kubeconfig naming it: every
 * request hangs until it is given up on.
 */
export async function silentApiServer(
  t: TestContext,
  dir: string,
): Promise<{ kubeconfig: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  const config = parse(await readFile(testKubeconfig(), 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  const kubeconfig = join(dir, '..', `kubeconfig-silent-${port}`);
  await writeFile(kubeconfig, stringify(config));
  t.after(() => rm(kubeconfig, { force: true }));
  return { kubeconfig, connections: () => connections };
}

async function claimsLeft(dir: string): Promise<string[]> {
  return (await readdir(join(dir, CLAIMS_DIR)).catch(() => [] as string[])).filter((n) =>
    n.endsWith('.claim'),
  );
}

describe('conductor-loop --once', () => {
  test('files another loop holds are named, and the run exits 3 (not submitted yet)', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'once-held');
    const dirs = await handoffDir(t);
    await dropIntent(dirs.dir, 'intent-free.json', intent(ns, 'free'));
    const heldPath = await dropIntent(dirs.dir, 'intent-held.json', intent(ns, 'held'));
    const badPath = await dropIntent(dirs.dir, 'intent-bad.json', { target: 'x' });

    // A live replica holds two of the files.
    const other = new ClaimRegistry(dirs.dir, 30_000, 'other-host/4242/peer');
    await other.start();
    t.after(() => other.stop());
    const heldKey = await claimKey(heldPath, 'intent-held.json');
    const badKey = await claimKey(badPath, 'intent-bad.json');
    assert.equal(await other.acquire(heldKey), true);
    assert.equal(await other.acquire(badKey), true);

    const run = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      '--once',
      '--claim-timeout=30s',
    ]);
    assert.equal(await run.exited, 3, 'files left to another loop are not submitted yet: exit code 3');
    for (const file of ['intent-held.json', 'intent-bad.json']) {
      assert.deepEqual(
        run.messages(`${join(dirs.dir, file)} is claimed by conductor-loop other-host/4242/peer; left to it`)
          .length,
        1,
        `the log names ${file} and its holder`,
      );
    }
    const finished = run.records.find((r) => r['msg'] === 'conductor-loop finished (--once)');
    assert.equal(finished?.['held'], 2);
    assert.equal(finished?.['processed'], 1);
    const state = await readState(dirs.dir);
    assert.deepEqual(Object.keys(state), ['intent-free.json']);
    assert.equal((await errorReports(dirs.errors)).size, 0);

    // Released, the next run takes them: one submitted, one invalid.
    await other.release(heldKey);
    await other.release(badKey);
    const again = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.equal(await again.exited, 1);
    assert.equal((await readState(dirs.dir))['intent-held.json']?.status, 'processed');
    assert.equal((await readState(dirs.dir))['intent-bad.json']?.status, 'failed');
  });

  test('SIGTERM stops a --once run in order: claims released, nothing recorded, exit 3', async (t) => {
    const dirs = await handoffDir(t);
    const silent = await silentApiServer(t, dirs.dir);
    await dropIntent(dirs.dir, 'intent-web.json', intent('default', 'web'));
    const run = loopProcess(t, silent.kubeconfig, [`--handoff-dir=${dirs.dir}`, '--once']);
    await waitFor(() => run.messages('Creating NetworkIntent CR').length > 0 && silent.connections() > 0, {
      description: 'the submission under way',
      timeoutMs: 30_000,
    });
    assert.deepEqual(await claimsLeft(dirs.dir), [
      (await claimKey(join(dirs.dir, 'intent-web.json'), 'intent-web.json')) + '.claim',
    ]);
    assert.equal(await run.stop('SIGTERM'), 3, 'an unfinished run exits 3');
    assert.ok(run.messages('received SIGTERM; shutting down').length > 0);
    assert.deepEqual(await claimsLeft(dirs.dir), [], 'its claim released for the next run');
    assert.deepEqual(await readState(dirs.dir), {}, 'nothing recorded');
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });
});

describe('conductor-loop stopping', () => {
  test('SIGTERM: at the deadline the request under way is cut off and no queued submission starts', async (t) => {
    const dirs = await handoffDir(t);
    const silent = await silentApiServer(t, dirs.dir);
    await dropIntent(dirs.dir, 'intent-a.json', intent('default', 'a'));
    await dropIntent(dirs.dir, 'intent-b.json', intent('default', 'b'));
    // One worker: the second intent waits for the first, whose request never gets an answer.
    const loop = loopProcess(t, silent.kubeconfig, [
      `--handoff-dir=${dirs.dir}`,
      '--workers=1',
      '--batch-interval=50ms',
      '--debounce=10ms',
    ]);
    await waitFor(() => loop.messages('Creating NetworkIntent CR').length > 0 && silent.connections() > 0, {
      description: 'the first submission under way',
      timeoutMs: 30_000,
    });
    assert.equal(await loop.stop('SIGTERM'), 0);
    assert.equal(loop.messages('Creating NetworkIntent CR').length, 1, 'the queued intent was not tried');
    assert.equal(silent.connections(), 1, 'no request after the deadline');
    assert.deepEqual(await claimsLeft(dirs.dir), [], 'both left unclaimed for the next start');
    assert.deepEqual(await readState(dirs.dir), {}, 'and unrecorded');
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });
});
