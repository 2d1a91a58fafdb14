import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import type { Intent } from '../../../src/conductor/intent.js';
import { networkIntentName, toNetworkIntent } from '../../../src/conductor/intent.js';
import { conductorMetrics } from '../../../src/conductor/metrics.js';
import { Namespaces } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { releaseFinalizersAtEnd, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import {
  dropIntent,
  errorReports,
  handoffDir,
  intent,
  loopProcess,
  readState,
  startLoop,
} from './support.js';

const SERVICE_ACCOUNT = (ns: string) => `system:serviceaccount:${ns}:conductor-loop`;

/** The seed's ClusterRole rule, granted in the test's namespace only. */
async function grantSeedRbac(client: Awaited<ReturnType<typeof testClient>>, ns: string): Promise<void> {
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'conductor-loop', namespace: ns },
    rules: [
      {
        apiGroups: ['intent.nephoran.com'],
        resources: ['networkintents', 'networkintents/status'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
      },
    ],
  });
  await client.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'conductor-loop', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'conductor-loop' },
    subjects: [{ kind: 'User', name: SERVICE_ACCOUNT(ns), apiGroup: 'rbac.authorization.k8s.io' }],
  });
}

describe('conductor-loop against the API server', () => {
  test("the seed's four cases", async (t) => {
    const admin = await testClient(t);
    await installCrds(admin, conductorCrds());
    const ns = await testNamespace(t, admin, 'seed');
    const asLoop = admin.impersonating({ user: SERVICE_ACCOUNT(ns), groups: ['system:authenticated'] });
    const dirs = await handoffDir(t);
    await startLoop(t, asLoop, dirs);

    // 1: a Kubernetes-shaped document.
    await dropIntent(dirs.dir, 'intent-k8s-shaped.json', {
      apiVersion: 'intent.nephoran.com/v1alpha1',
      kind: 'NetworkIntent',
      metadata: { name: 'web' },
      spec: { replicas: 3 },
    });
    // 2: a source outside the enum.
    await dropIntent(dirs.dir, 'intent-bad-source.json', intent(ns, 'web-app', { source: 'test-user' }));
    // 3: valid, but the loop's identity has no RBAC yet.
    const seed3 = {
      source: 'test',
      intent_type: 'scaling',
      target: 'web-app',
      namespace: ns,
      replicas: 5,
      reason: 'Testing K8sSubmitFunc integration',
      correlation_id: 'test-123',
      created_at: '2026-02-23T17:20:00Z',
    };
    await dropIntent(dirs.dir, 'intent-no-rbac.json', seed3);

    const reports = await waitFor(
      async () => {
        const r = await errorReports(dirs.errors);
        return r.size >= 3 ? r : undefined;
      },
      { description: 'three error files', timeoutMs: 30_000 },
    );
    assert.deepEqual(reports.get('intent-k8s-shaped.json')?.errors, [
      "at '': missing properties 'intent_type', 'target', 'namespace', 'replicas'",
      "at '': additional properties 'apiVersion', 'kind', 'metadata', 'spec' not allowed",
    ]);
    assert.equal(reports.get('intent-k8s-shaped.json')?.message, 'jsonschema validation failed');
    assert.deepEqual(reports.get('intent-bad-source.json')?.errors, [
      "at '/source': value must be one of 'user', 'planner', 'test', ''",
    ]);
    const forbidden = reports.get('intent-no-rbac.json');
    assert.equal(forbidden?.reason, 'Forbidden');
    assert.equal(forbidden?.status?.code, 403);
    assert.match(forbidden?.message ?? '', /^failed to create NetworkIntent CR: .*is forbidden/);
    assert.deepEqual(forbidden?.forbidden, {
      verb: 'create',
      resource: 'networkintents',
      group: 'intent.nephoran.com',
      namespace: ns,
      identity: SERVICE_ACCOUNT(ns),
    });
    // Right after the CRD is installed its storage may still answer 429 for a moment.
    const none = await waitFor(() => admin.list(NetworkIntents, { namespace: ns }), {
      description: 'the NetworkIntent list',
      timeoutMs: 10_000,
    });
    assert.equal(none.items.length, 0);

    // 4: with the seed's RBAC, the CR has exactly the seed's spec, labels and annotations.
    await grantSeedRbac(admin, ns);
    const seed4 = {
      source: 'test',
      intent_type: 'scaling',
      target: 'api-server',
      namespace: ns,
      replicas: 3,
      reason: 'Testing K8sSubmitFunc with RBAC',
      correlation_id: 'test-final-123',
      created_at: '2026-02-23T17:25:00Z',
    };
    await dropIntent(dirs.dir, 'intent-test-final-1771867229.json', seed4);
    const name = networkIntentName(seed4 as Intent);
    assert.match(name, /^intent-api-server-[0-9a-f]{8}$/);
    const ni = await waitFor(() => admin.find(NetworkIntents, name, ns), {
      description: `NetworkIntent ${ns}/${name}`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(ni.spec, {
      intentType: 'scaling',
      namespace: ns,
      replicas: 3,
      source: 'test',
      target: 'api-server',
    });
    assert.deepEqual(ni.metadata?.labels, {
      'app.kubernetes.io/managed-by': 'nephoran-conductor',
      'nephoran.com/intent-type': 'scaling',
      'nephoran.com/target': 'api-server',
    });
    assert.deepEqual(ni.metadata?.annotations, {
      'nephoran.com/correlation-id': 'test-final-123',
      'nephoran.com/reason': 'Testing K8sSubmitFunc with RBAC',
    });
    const state = await waitFor(
      async () => {
        const s = await readState(dirs.dir);
        return s['intent-test-final-1771867229.json'] ? s : undefined;
      },
      { description: 'the state record', timeoutMs: 10_000 },
    );
    assert.equal(state['intent-test-final-1771867229.json']?.status, 'processed');
    assert.equal(state['intent-test-final-1771867229.json']?.cr_name, `${ns}/${name}`);
    assert.equal(state['intent-no-rbac.json']?.status, 'failed');
  });

  test('duplicates are not reprocessed; a changed file is', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'dup');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs);

    const first = intent(ns, 'web');
    await dropIntent(dirs.dir, 'intent-a.json', first);
    const state1 = await waitFor(async () => (await readState(dirs.dir))['intent-a.json'], {
      description: 'intent-a.json processed',
      timeoutMs: 30_000,
    });
    // The same file rewritten unchanged, and a copy under another name: no second CR, no new record.
    await dropIntent(dirs.dir, 'intent-a.json', first);
    await dropIntent(dirs.dir, 'intent-copy.json', first);
    // A changed file gets a CR of its own.
    await dropIntent(dirs.dir, 'intent-a.json', { ...first, replicas: 7 });
    const changed = await waitFor(
      async () => {
        const s = (await readState(dirs.dir))['intent-a.json'];
        return s && s.sha256 !== state1.sha256 ? s : undefined;
      },
      { description: 'the changed intent-a.json processed', timeoutMs: 30_000 },
    );
    const copy = await waitFor(async () => (await readState(dirs.dir))['intent-copy.json'], {
      description: 'intent-copy.json processed',
      timeoutMs: 30_000,
    });
    assert.equal(copy.cr_name, state1.cr_name, 'the copy resolves to the same NetworkIntent');
    // Rewriting a processed file unchanged leaves its record alone (a later file proves the loop looked).
    await dropIntent(dirs.dir, 'intent-copy.json', first);
    await dropIntent(dirs.dir, 'intent-sentinel.json', intent(ns, 'sentinel'));
    await waitFor(async () => (await readState(dirs.dir))['intent-sentinel.json'], {
      description: 'the sentinel processed',
      timeoutMs: 30_000,
    });
    assert.equal((await readState(dirs.dir))['intent-copy.json']?.processed_at, copy.processed_at);
    assert.notEqual(changed.cr_name, state1.cr_name);
    const items = (await client.list(NetworkIntents, { namespace: ns })).items;
    assert.deepEqual(items.map((i) => `${i.spec.target}:${i.spec.replicas}`).sort(), [
      'sentinel:3',
      'web:3',
      'web:7',
    ]);
    assert.deepEqual([...(await errorReports(dirs.errors)).values()], []);
  });

  test('a removed file is forgotten at the next rescan; dropped again, it is submitted again', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'forget');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs, { periodMs: 200 });

    const web = intent(ns, 'web');
    await dropIntent(dirs.dir, 'intent-web.json', web);
    await dropIntent(dirs.dir, 'intent-db.json', intent(ns, 'db'));
    const recorded = await waitFor(
      async () => {
        const s = await readState(dirs.dir);
        return s['intent-web.json'] && s['intent-db.json'] ? s : undefined;
      },
      { description: 'both intents processed', timeoutMs: 30_000 },
    );
    const [crNamespace, crName] = recorded['intent-web.json']!.cr_name!.split('/') as [string, string];

    await rm(join(dirs.dir, 'intent-web.json'));
    await waitFor(async () => !('intent-web.json' in (await readState(dirs.dir))), {
      description: "intent-web.json's record gone from the state",
      timeoutMs: 30_000,
    });
    assert.deepEqual(Object.keys(await readState(dirs.dir)), ['intent-db.json'], 'the other record stays');

    // Its NetworkIntent deleted meanwhile, the same file dropped again makes it anew.
    await client.delete(NetworkIntents, crName, crNamespace);
    await waitFor(async () => !(await client.find(NetworkIntents, crName, crNamespace)), {
      description: 'the NetworkIntent deleted',
      timeoutMs: 30_000,
    });
    await dropIntent(dirs.dir, 'intent-web.json', web);
    await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'intent-web.json processed again',
      timeoutMs: 30_000,
    });
    assert.equal((await client.get(NetworkIntents, crName, crNamespace)).spec.target, 'web');
  });

  test('a handoff directory deleted and made again is watched again, not only rescanned', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'rewatch');
    const dirs = await handoffDir(t);
    // Rescans ten minutes apart: only the watch can bring the file in within the test.
    await startLoop(t, client, dirs, { claimTimeoutMs: 600_000 });

    await rm(dirs.dir, { recursive: true });
    await mkdir(dirs.dir, { recursive: true }); // the loop may have made it first
    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web'));
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'intent-web.json, dropped into the new directory, processed',
      timeoutMs: 30_000,
    });
    assert.equal(record.status, 'processed');

    // Deleted and not made again: the loop makes it, and goes on watching it.
    await rm(dirs.dir, { recursive: true });
    await waitFor(async () => (await readdir(dirs.dir).catch(() => undefined)) !== undefined, {
      description: 'the handoff directory made again',
      timeoutMs: 30_000,
    });
    await dropIntent(dirs.dir, 'intent-db.json', intent(ns, 'db'));
    await waitFor(async () => (await readState(dirs.dir))['intent-db.json'], {
      description: 'intent-db.json processed',
      timeoutMs: 30_000,
    });
  });

  test("the debounce counts from a file's last change: a file written long ago is read at once", async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'quiet');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs, { debounceMs: 120_000 });

    // Written aside two minutes ago and renamed in now: its writer has long been quiet.
    const old = join(dirs.dir, '.intent-old.json.tmp');
    await writeFile(old, JSON.stringify(intent(ns, 'old')));
    const past = new Date(Date.now() - 180_000);
    await utimes(old, past, past);
    await rename(old, join(dirs.dir, 'intent-old.json'));
    // Written just now: it waits out the whole debounce.
    await dropIntent(dirs.dir, 'intent-new.json', intent(ns, 'new'));

    await waitFor(async () => (await readState(dirs.dir))['intent-old.json'], {
      description: 'intent-old.json processed long before the 2-minute debounce',
      timeoutMs: 30_000,
    });
    assert.equal((await readState(dirs.dir))['intent-new.json'], undefined, 'a fresh file waits');
    const items = (await client.list(NetworkIntents, { namespace: ns })).items;
    assert.deepEqual(
      items.map((i) => i.spec.target),
      ['old'],
    );
  });

  test('a file still being written is read once its writer has been quiet, not before', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'slow');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs, { debounceMs: 2_000 });

    // Written in place in two parts: the first alone is not JSON.
    const text = JSON.stringify(intent(ns, 'slow'));
    const path = join(dirs.dir, 'intent-slow.json');
    await writeFile(path, text.slice(0, 10));
    await new Promise((done) => setTimeout(done, 300));
    await writeFile(path, text);

    await waitFor(async () => (await readState(dirs.dir))['intent-slow.json'], {
      description: 'intent-slow.json processed',
      timeoutMs: 30_000,
    });
    assert.equal((await readState(dirs.dir))['intent-slow.json']?.status, 'processed');
    assert.deepEqual([...(await errorReports(dirs.errors)).keys()], [], 'the partial file was never judged');
    const items = (await client.list(NetworkIntents, { namespace: ns })).items;
    assert.deepEqual(
      items.map((i) => i.spec.target),
      ['slow'],
    );
  });

  test('malformed, empty, huge, binary, non-matching and symlinked files', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'odd');
    const dirs = await handoffDir(t);
    const outside = join(dirs.dir, '..', `secret-${ns}.json`);
    await writeFile(outside, JSON.stringify(intent(ns, 'leak')));
    t.after(() => import('node:fs/promises').then((fs) => fs.rm(outside, { force: true })));
    await startLoop(t, client, dirs, { maxFileBytes: 64 * 1024 });

    await dropIntent(dirs.dir, 'intent-malformed.json', '{"intent_type": "scaling", ');
    await dropIntent(dirs.dir, 'intent-empty.json', '');
    await dropIntent(
      dirs.dir,
      'intent-huge.json',
      JSON.stringify({ ...intent(ns, 'big'), description: 'x'.repeat(70_000) }),
    );
    await dropIntent(
      dirs.dir,
      'intent-binary.json',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00]),
    );
    await dropIntent(dirs.dir, 'notes.json', intent(ns, 'ignored'));
    await dropIntent(dirs.dir, 'intent-x.yaml', intent(ns, 'ignored'));
    await symlink(outside, join(dirs.dir, 'intent-link.json'));
    await mkdir(join(dirs.dir, 'intent-dir.json'));
    await dropIntent(dirs.dir, 'intent-good.json', intent(ns, 'good'));

    const reports = await waitFor(
      async () => {
        const r = await errorReports(dirs.errors);
        return r.size >= 6 ? r : undefined;
      },
      { description: 'six error files', timeoutMs: 30_000 },
    );
    assert.equal(reports.get('intent-malformed.json')?.reason, 'InvalidJSON');
    assert.match(reports.get('intent-malformed.json')?.message ?? '', /^invalid JSON: /);
    assert.equal(reports.get('intent-empty.json')?.reason, 'Empty');
    assert.equal(reports.get('intent-huge.json')?.reason, 'TooLarge');
    assert.match(reports.get('intent-huge.json')?.message ?? '', /the limit is 65536 bytes/);
    assert.equal(reports.get('intent-binary.json')?.message, 'the file is not UTF-8 text (binary content)');
    assert.equal(reports.get('intent-link.json')?.reason, 'Symlink');
    assert.equal(reports.get('intent-dir.json')?.reason, 'NotRegularFile');
    await waitFor(async () => (await readState(dirs.dir))['intent-good.json'], {
      description: 'the good intent processed',
      timeoutMs: 30_000,
    });
    const state = await readState(dirs.dir);
    assert.equal(state['notes.json'], undefined);
    assert.equal(state['intent-x.yaml'], undefined);
    const targets = (await client.list(NetworkIntents, { namespace: ns })).items.map((i) => i.spec.target);
    assert.deepEqual(targets, ['good'], 'only the good intent became a NetworkIntent (no leak via the link)');
  });

  test('--once processes what is there, writes --out YAML and exits with the documented code', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'once');
    const dirs = await handoffDir(t);
    const out = join(dirs.dir, '..', `out-${ns}`);
    t.after(() => rm(out, { recursive: true, force: true }));
    for (let i = 0; i < 5; i++) await dropIntent(dirs.dir, `intent-${i}.json`, intent(ns, `app-${i}`));
    const ok = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--once',
      `--out=${out}`,
    ]);
    assert.equal(await ok.exited, 0);
    assert.equal((await client.list(NetworkIntents, { namespace: ns })).items.length, 5);
    assert.equal(ok.messages('Successfully processed: ').length, 5);
    const yamls = await readdir(out);
    assert.equal(yamls.length, 5);
    assert.match(
      await readFile(join(out, yamls[0]!), 'utf8'),
      /^apiVersion: intent\.nephoran\.com\/v1alpha1\nkind: NetworkIntent\n/,
    );

    await dropIntent(dirs.dir, 'intent-bad.json', '{');
    // Without --error-dir, reports go beside the intents: <handoff-dir>/errors.
    const failed = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.equal(await failed.exited, 1, 'a failed file gives exit code 1');
    assert.match((await readdir(dirs.errors)).join(' '), /^intent-bad\.json\.\S+\.error$/);
    assert.equal(
      failed.messages('Creating NetworkIntent CR').length,
      0,
      'processed files are not submitted again',
    );
  });

  test('--once: the raw intent as --out YAML in direct mode; exit code 3 while the API server is unreachable', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'once-direct');
    const dirs = await handoffDir(t);
    const out = join(dirs.dir, '..', `out-${ns}`);
    t.after(() => rm(out, { recursive: true, force: true }));

    // A kubeconfig naming a port nothing listens on: every submission is retryable, none final.
    const kubeconfig = parse(await readFile(testKubeconfig(), 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of kubeconfig.clusters) c.cluster.server = 'https://127.0.0.1:1';
    const unreachable = join(dirs.dir, '..', `kubeconfig-${ns}`);
    await writeFile(unreachable, stringify(kubeconfig));
    t.after(() => rm(unreachable, { force: true }));
    await dropIntent(dirs.dir, 'intent-ran.json', intent(ns, 'ran', { reason: 'more cells' }));
    const down = loopProcess(t, unreachable, [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--once',
    ]);
    assert.equal(await down.exited, 3, 'unsubmitted intents give exit code 3');
    assert.equal(
      await readState(dirs.dir).then((s) => s['intent-ran.json']),
      undefined,
      'left for the next run',
    );
    assert.equal((await errorReports(dirs.errors)).size, 0, 'an unreachable API server is no error file');

    const up = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      '--once',
      '--porch-mode=direct',
      `--out=${out}`,
    ]);
    assert.equal(await up.exited, 0);
    assert.equal((await readState(dirs.dir))['intent-ran.json']?.status, 'processed');
    assert.deepEqual(await readdir(out), ['intent-ran.yaml']);
    assert.deepEqual(parse(await readFile(join(out, 'intent-ran.yaml'), 'utf8')), {
      intent_type: 'scaling',
      target: 'ran',
      namespace: ns,
      replicas: 3,
      source: 'test',
      reason: 'more cells',
    });
  });

  test('--once: a socket or an unreadable file is reported, and the other files are still processed', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'once-odd');
    const dirs = await handoffDir(t);
    // A socket cannot even be opened (ENXIO).
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(dirs.dir, 'intent-socket.json'), done));
    t.after(() => new Promise<void>((done) => server.close(() => done())));
    await dropIntent(dirs.dir, 'intent-good.json', intent(ns, 'good'));
    // Permissions do not bind root, who reads any file.
    const asRoot = process.getuid?.() === 0;
    const locked = await dropIntent(dirs.dir, 'intent-locked.json', intent(ns, 'locked'));
    if (!asRoot) await chmod(locked, 0o000);

    const run = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--once',
    ]);
    assert.equal(await run.exited, 1, 'a refused file gives exit code 1');
    const reports = await errorReports(dirs.errors);
    assert.equal(reports.get('intent-socket.json')?.reason, 'NotRegularFile');
    assert.match(
      reports.get('intent-socket.json')?.message ?? '',
      /intent-socket\.json is not a regular file$/,
    );
    const state = await readState(dirs.dir);
    assert.equal(state['intent-good.json']?.status, 'processed');
    if (asRoot) return;
    assert.equal(reports.get('intent-locked.json')?.reason, 'Unreadable');
    assert.match(reports.get('intent-locked.json')?.message ?? '', /permission denied/);
    // Readable again, the same content is read and submitted.
    await chmod(locked, 0o644);
    const again = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--once',
    ]);
    assert.equal(await again.exited, 0);
    assert.equal((await readState(dirs.dir))['intent-locked.json']?.status, 'processed');
  });

  test('a file rewritten while its intent waits to be submitted is submitted with its new content only', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    // The namespace does not exist yet, so the first content waits, retried, as during an outage.
    const later = `later-${randomBytes(4).toString('hex')}`;
    t.after(() => client.delete(Namespaces, later).catch(() => {}));
    const dirs = await handoffDir(t);
    const loop = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--period=200ms',
      '--batch-interval=50ms',
      '--debounce=20ms',
    ]);
    const first = intent(later, 'web', { replicas: 3 });
    const second = intent(later, 'web', { replicas: 5 });
    const [firstName, secondName] = [first, second].map((i) => networkIntentName(i as Intent));
    const tried = (name: string) => loop.messages(`Creating NetworkIntent CR: ${name} `).length > 0;
    await dropIntent(dirs.dir, 'intent-web.json', first);
    await waitFor(() => tried(firstName!), { description: 'the first content tried', timeoutMs: 30_000 });
    await dropIntent(dirs.dir, 'intent-web.json', second);
    await waitFor(() => tried(secondName!), { description: 'the new content tried', timeoutMs: 30_000 });

    await client.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: later, labels: { 'tutti.dev/test': 'true' } },
    });
    await waitFor(() => client.find(NetworkIntents, secondName!, later), {
      description: `NetworkIntent ${later}/${secondName}`,
      timeoutMs: 30_000,
    });
    // The loop either drops the first content (the message) or, wrongly, submits it.
    await waitFor(
      async () =>
        loop.messages(`${join(dirs.dir, 'intent-web.json')} changed before`).length > 0 ||
        (await client.find(NetworkIntents, firstName!, later)),
      { description: 'the first content dropped or submitted', timeoutMs: 30_000 },
    );
    const names = (await client.list(NetworkIntents, { namespace: later })).items.map(
      (i) => i.metadata?.name,
    );
    assert.deepEqual(names, [secondName], 'no NetworkIntent for the content the file no longer holds');
    assert.equal((await readState(dirs.dir))['intent-web.json']?.cr_name, `${later}/${secondName}`);
  });

  test('a --handoff-dir or --error-dir that is a file is named in the error', async (t) => {
    const dirs = await handoffDir(t);
    const file = join(dirs.dir, 'not-a-dir');
    await writeFile(file, '');
    for (const [flag, args] of [
      ['--handoff-dir', [`--handoff-dir=${file}`, `--error-dir=${dirs.errors}`]],
      ['--error-dir', [`--handoff-dir=${dirs.dir}`, `--error-dir=${file}`]],
      ['--error-dir', [`--handoff-dir=${dirs.dir}`, `--error-dir=${file}/errors`]],
    ] as const) {
      const run = loopProcess(t, testKubeconfig(), [...args, '--once']);
      assert.equal(await run.exited, 1);
      const target = args.find((a) => a.startsWith(flag))!.slice(flag.length + 1);
      assert.ok(
        run
          .messages('tutti conductor-loop: ')
          .includes(`tutti conductor-loop: ${flag}: ${target} is not a directory`),
        `the error names ${flag}: ${JSON.stringify(run.records.map((r) => r['msg']))}`,
      );
    }
  });

  test('a --metrics-port already in use is named in the error', async (t) => {
    const dirs = await handoffDir(t);
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, done));
    t.after(() => new Promise<void>((done) => taken.close(() => done())));
    const port = (taken.address() as AddressInfo).port;
    const env = { CONDUCTOR_HANDOFF_DIR: dirs.dir, CONDUCTOR_ERROR_DIR: dirs.errors };
    const run = loopProcess(t, testKubeconfig(), [`--metrics-port=${port}`], env);
    assert.equal(await run.exited, 1);
    assert.ok(
      run.messages(`tutti conductor-loop: --metrics-port ${port}: listen EADDRINUSE`).length === 1,
      `the error names --metrics-port: ${JSON.stringify(run.records.map((r) => r['msg']))}`,
    );
  });

  test('an intent whose namespace does not exist yet waits for it instead of failing for good', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const later = `later-${randomBytes(4).toString('hex')}`;
    t.after(() => client.delete(Namespaces, later).catch(() => {}));
    const dirs = await handoffDir(t);
    const doc = intent(later, 'web');
    await dropIntent(dirs.dir, 'intent-later.json', doc);

    const early = loopProcess(t, testKubeconfig(), [
      `--handoff-dir=${dirs.dir}`,
      `--error-dir=${dirs.errors}`,
      '--once',
    ]);
    assert.equal(await early.exited, 3, 'not submitted yet: exit code 3');
    assert.equal((await errorReports(dirs.errors)).size, 0, 'a missing namespace is no error file');
    assert.equal((await readState(dirs.dir))['intent-later.json'], undefined, 'left for the next run');
    assert.ok(
      early.records.some((r) => String(r['msg']).includes(`namespace ${later} does not exist`)),
      'the log names the missing namespace',
    );

    // A running loop keeps trying, and submits it once the namespace appears.
    const notFound = async () =>
      (await conductorMetrics.submitErrors.get()).values.find((v) => v.labels['reason'] === 'NotFound')
        ?.value ?? 0;
    const before = await notFound();
    const seen = async () => (await conductorMetrics.filesSeen.get()).values[0]?.value ?? 0;
    const seenBefore = await seen();
    await startLoop(t, client, dirs, { periodMs: 200 });
    await waitFor(async () => (await notFound()) >= before + 3, {
      description: 'the loop to have tried the intent three times',
      timeoutMs: 10_000,
    });
    assert.equal((await readState(dirs.dir))['intent-later.json'], undefined);
    assert.equal(
      await seen(),
      seenBefore + 1,
      'conductor_files_seen_total counts the file once, not each try',
    );
    await client.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: later, labels: { 'tutti.dev/test': 'true' } },
    });
    const name = networkIntentName(doc as Intent);
    await waitFor(() => client.find(NetworkIntents, name, later), {
      description: `NetworkIntent ${later}/${name}`,
      timeoutMs: 30_000,
    });
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-later.json'], {
      description: 'the state record',
      timeoutMs: 10_000,
    });
    assert.equal(record.status, 'processed');
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });
});

describe('conductor-loop and a NetworkIntent being deleted', () => {
  test('an intent whose NetworkIntent is still being deleted is created anew once that one is gone', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'terminating');
    releaseFinalizersAtEnd(t, client, NetworkIntents, ns);
    const doc = intent(ns, 'web');
    const name = networkIntentName(doc as Intent);
    // The same intent submitted before and deleted since, held in deletion by a finalizer (as the
    // controller's A1 finalizer holds it while the policy is deleted).
    const old = await client.create({
      ...toNetworkIntent(doc as Intent),
      metadata: { ...toNetworkIntent(doc as Intent).metadata, finalizers: ['test.tutti.dev/hold'] },
    });
    await client.delete(NetworkIntents, name, ns);

    const attempts = async () =>
      (await conductorMetrics.intentsSubmitted.get()).values.reduce((n, v) => n + v.value, 0) +
      (await conductorMetrics.submitErrors.get()).values.reduce((n, v) => n + v.value, 0);
    const before = await attempts();
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs, { periodMs: 200 });
    await dropIntent(dirs.dir, 'intent-web.json', doc);
    await waitFor(async () => (await attempts()) > before, {
      description: 'the loop to have met the NetworkIntent being deleted',
      timeoutMs: 30_000,
    });

    await client.patch(NetworkIntents, name, ns, { metadata: { finalizers: null } });
    const made = await waitFor(
      async () => {
        const ni = await client.find(NetworkIntents, name, ns);
        return ni && ni.metadata?.uid !== old.metadata?.uid ? ni : undefined;
      },
      { description: `NetworkIntent ${ns}/${name} made anew`, timeoutMs: 30_000 },
    );
    assert.equal(made.metadata?.deletionTimestamp, undefined);
    const record = await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'the state record',
      timeoutMs: 10_000,
    });
    assert.equal(record.status, 'processed');
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });
});

describe('conductor-loop and a namespace that cannot exist', () => {
  test('an intent naming an invalid namespace gets an error file, not retries for ever', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'badns');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs, { periodMs: 200 });
    await dropIntent(dirs.dir, 'intent-upper.json', intent('Web_Apps', 'web'));
    await dropIntent(dirs.dir, 'intent-good.json', intent(ns, 'web'));

    const reports = await waitFor(
      async () => {
        const r = await errorReports(dirs.errors);
        return r.has('intent-upper.json') ? r : undefined;
      },
      { description: 'an error file for intent-upper.json', timeoutMs: 15_000 },
    );
    const report = reports.get('intent-upper.json')!;
    assert.equal(report.reason, 'ValidationFailed');
    assert.match(
      report.errors?.join('\n') ?? '',
      /at '\/namespace': 'Web_Apps' is not a valid namespace name/,
    );
    const state = await waitFor(
      async () => {
        const s = await readState(dirs.dir);
        return s['intent-upper.json'] && s['intent-good.json'] ? s : undefined;
      },
      { description: 'both files recorded', timeoutMs: 15_000 },
    );
    assert.equal(state['intent-upper.json']!.status, 'failed');
    assert.equal(state['intent-good.json']!.status, 'processed');
  });
});
