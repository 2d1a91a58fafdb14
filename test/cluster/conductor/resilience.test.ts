import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { CLAIMS_DIR } from '../../../src/conductor/claims.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { dedicatedControlPlane, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import {
  dropIntent,
  errorReports,
  handoffDir,
  intent,
  loopProcess,
  readState,
  startLoop,
} from './support.js';

const FAST = ['--batch-size=10', '--batch-interval=50ms', '--debounce=10ms', '--workers=2'];

async function allProcessed(dir: string, count: number) {
  const state = await readState(dir);
  const done = Object.values(state).filter((r) => r.status === 'processed');
  return done.length >= count ? state : undefined;
}

describe('conductor-loop under failure', () => {
  test('kill -9 mid-batch, then a restart: nothing lost, nothing submitted twice', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'crash');
    const dirs = await handoffDir(t);
    const total = 150;
    for (let i = 0; i < total; i++) await dropIntent(dirs.dir, `intent-${i}.json`, intent(ns, `app-${i}`));

    const first = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, ...FAST]);
    await waitFor(async () => (await client.list(NetworkIntents, { namespace: ns })).items.length >= 30, {
      description: '30 NetworkIntents from the first run',
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    await first.stop('SIGKILL');
    const landed = (await client.list(NetworkIntents, { namespace: ns })).items.length;
    assert.ok(landed < total, `the kill came mid-way (${landed} of ${total} landed)`);
    const recorded = Object.values(await readState(dirs.dir)).filter((r) => r.status === 'processed').length;
    assert.ok(recorded <= landed, 'a file is recorded only once its NetworkIntent exists');

    const second = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, ...FAST]);
    const state = await waitFor(() => allProcessed(dirs.dir, total), {
      description: `all ${total} files processed after the restart`,
      timeoutMs: 120_000,
    });
    assert.equal(await second.stop(), 0, 'SIGTERM ends the loop cleanly');
    const items = (await client.list(NetworkIntents, { namespace: ns })).items;
    assert.equal(items.length, total);
    assert.equal(new Set(Object.values(state).map((r) => r.cr_name)).size, total);
    // The restart creates exactly what the first run had not; what the first run created but had
    // not yet recorded (its batches in flight) is met as AlreadyExists, never re-created; what it
    // recorded is not submitted again.
    assert.equal(second.messages('Successfully created NetworkIntent CR').length, total - landed);
    assert.equal(second.messages('NetworkIntent CR already exists').length, landed - recorded);
    assert.equal(second.messages('Creating NetworkIntent CR').length, total - recorded);
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });

  test('two loops on one directory submit each intent exactly once', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'pair');
    const dirs = await handoffDir(t);
    const a = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, ...FAST]);
    const b = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, ...FAST]);
    for (const p of [a, b]) {
      await waitFor(() => p.messages('Configuration:').length > 0 && p.messages('  Watching:').length > 0, {
        description: 'both loops started',
        timeoutMs: 120_000, // module loading alone takes tens of seconds on a loaded machine
      });
    }
    await delay(500); // both watchers armed after their start-up lines; the race below is the point
    const total = 100;
    for (let i = 0; i < total; i++) await dropIntent(dirs.dir, `intent-${i}.json`, intent(ns, `svc-${i}`));
    await waitFor(() => allProcessed(dirs.dir, total), {
      description: `all ${total} processed`,
      timeoutMs: 120_000,
    });
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
    const submitted = [
      ...a.messages('Creating NetworkIntent CR'),
      ...b.messages('Creating NetworkIntent CR'),
    ];
    assert.equal(submitted.length, total, 'each intent submitted by one loop, once');
    assert.equal(new Set(submitted).size, total);
    assert.equal((await client.list(NetworkIntents, { namespace: ns })).items.length, total);
  });

  test("a crashed replica's claim is taken over after the claim timeout", async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'takeover');
    const dirs = await handoffDir(t);
    const doc = JSON.stringify(intent(ns, 'orphan'));
    await dropIntent(dirs.dir, 'intent-orphan.json', doc);
    // The claim a replica left when it died: same file version, last refreshed a minute ago.
    const sha = createHash('sha256').update(doc).digest('hex');
    await mkdir(join(dirs.dir, CLAIMS_DIR), { recursive: true });
    const claim = join(dirs.dir, CLAIMS_DIR, `intent-orphan.json@${sha.slice(0, 16)}.claim`);
    await writeFile(claim, JSON.stringify({ owner: 'crashed/1', file: 'intent-orphan.json' }));
    const old = new Date(Date.now() - 60_000);
    await utimes(claim, old, old);
    await startLoop(t, client, dirs, { claimTimeoutMs: 2_000 });
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-orphan.json'], {
      description: 'the orphaned file taken over and processed',
      timeoutMs: 30_000,
    });
    assert.equal(record.status, 'processed');
  });

  test('the API server stopped for 20 s: every intent lands after it returns', async (t) => {
    const plane = await dedicatedControlPlane(t, 'conductor-outage');
    if (!plane) return;
    const client = await KubeClient.load(plane.kubeconfigPath);
    t.after(() => client.close());
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'outage');
    const dirs = await handoffDir(t);
    const loop = loopProcess(t, plane.kubeconfigPath, [`--handoff-dir=${dirs.dir}`, ...FAST, '--period=2s']);
    for (let i = 0; i < 10; i++)
      await dropIntent(dirs.dir, `intent-before-${i}.json`, intent(ns, `before-${i}`));
    await waitFor(() => allProcessed(dirs.dir, 10), {
      description: 'the first 10 processed',
      timeoutMs: 120_000,
    });

    await plane.stopComponent('kube-apiserver', { kill: true });
    for (let i = 0; i < 20; i++)
      await dropIntent(dirs.dir, `intent-during-${i}.json`, intent(ns, `during-${i}`));
    await delay(20_000); // the outage itself, not a wait for a condition
    await plane.startComponent('kube-apiserver');

    await waitFor(() => allProcessed(dirs.dir, 30), { description: 'all 30 processed', timeoutMs: 120_000 });
    assert.ok(
      loop.messages('failed to create NetworkIntent CR').length > 0,
      'the outage was seen and retried',
    );
    assert.equal(await loop.stop(), 0);
    const items = (await client.list(NetworkIntents, { namespace: ns })).items;
    assert.equal(items.length, 30);
    assert.equal((await errorReports(dirs.errors)).size, 0, 'an outage never turns into an error file');
  });
});
