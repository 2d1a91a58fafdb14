import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { type Intent, networkIntentName } from '../../../src/conductor/intent.js';
import { STATE_FILE } from '../../../src/conductor/state.js';
import { Namespaces } from '../../../src/runtime/client/kinds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import {
  capturingLogger,
  dropIntent,
  errorReports,
  handoffDir,
  intent,
  readState,
  startLoop,
} from './support.js';

describe('conductor-loop: which version of a file, and of the state, it has seen', () => {
  test('a same-size file renamed in with the mtime of the one it replaced is read and submitted', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'ino');
    const dirs = await handoffDir(t);
    await startLoop(t, client, dirs);

    // Both versions carry one modification time, as a producer that keeps timestamps (cp -p,
    // rsync -t) writes them; of the same size (one digit for another), only their inode and ctime
    // tell them apart.
    const mtime = new Date('2024-01-02T03:04:05Z');
    const path = join(dirs.dir, 'intent-web.json');
    const renameIn = async (replicas: number) => {
      const temp = join(dirs.dir, '.intent-web.json.next');
      await writeFile(temp, JSON.stringify(intent(ns, 'web', { replicas }), null, 2));
      await utimes(temp, mtime, mtime);
      const info = await stat(temp);
      await rename(temp, path);
      return info;
    };
    const before = await renameIn(3);
    const first = await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'intent-web.json processed',
      timeoutMs: 30_000,
    });
    const next = await renameIn(4);
    assert.equal(next.size, before.size);
    assert.equal(next.mtimeMs, before.mtimeMs);

    const second = await waitFor(
      async () => {
        const rec = (await readState(dirs.dir))['intent-web.json'];
        return rec && rec.sha256 !== first.sha256 ? rec : undefined;
      },
      { description: 'the renamed-in intent-web.json processed', timeoutMs: 30_000 },
    );
    const [crNs, crName] = second.cr_name!.split('/') as [string, string];
    assert.equal((await client.get(NetworkIntents, crName, crNs)).spec.replicas, 4);
    assert.equal((await errorReports(dirs.errors)).size, 0);
  });

  test('a failed file whose state entry is removed by hand is tried again while the loop runs', async (t) => {
    const admin = await testClient(t);
    await installCrds(admin, conductorCrds());
    const ns = await testNamespace(t, admin, 'retry');
    const user = `system:serviceaccount:${ns}:conductor-loop`;
    const asLoop = admin.impersonating({ user, groups: ['system:authenticated'] });
    const dirs = await handoffDir(t);
    await startLoop(t, asLoop, dirs, { periodMs: 200 });

    // Refused for want of RBAC: a final failure, recorded.
    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web'));
    const failed = await waitFor(async () => (await readState(dirs.dir))['intent-web.json'], {
      description: 'intent-web.json recorded',
      timeoutMs: 30_000,
    });
    assert.equal(failed.status, 'failed');
    assert.equal([...(await errorReports(dirs.errors)).values()][0]?.reason, 'Forbidden');

    await admin.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'conductor-loop', namespace: ns },
      rules: [
        { apiGroups: ['intent.nephoran.com'], resources: ['networkintents'], verbs: ['get', 'create'] },
      ],
    });
    await admin.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'conductor-loop', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'conductor-loop' },
      subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
    });
    // The documented retry: remove the file's entry (an editor keeps the rest, revision included).
    const path = join(dirs.dir, STATE_FILE);
    const doc = JSON.parse(await readFile(path, 'utf8')) as { files: Record<string, unknown> };
    delete doc.files['intent-web.json'];
    await writeFile(path, JSON.stringify(doc, null, 1));

    const done = await waitFor(
      async () => {
        const rec = (await readState(dirs.dir))['intent-web.json'];
        return rec?.status === 'processed' ? rec : undefined;
      },
      { description: 'intent-web.json processed once its entry was removed', timeoutMs: 30_000 },
    );
    const [crNs, crName] = done.cr_name!.split('/') as [string, string];
    assert.equal((await admin.get(NetworkIntents, crName, crNs)).spec.target, 'web');
  });

  test('a file removed before its intent was submitted withdraws the intent', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const later = `later-${randomBytes(4).toString('hex')}`;
    t.after(() => client.delete(Namespaces, later).catch(() => {}));
    const dirs = await handoffDir(t);
    const log = capturingLogger();
    await startLoop(t, client, dirs, { periodMs: 200, logger: log.logger });

    // Its namespace does not exist yet: the intent waits, retried.
    const doc = intent(later, 'web');
    const path = await dropIntent(dirs.dir, 'intent-web.json', doc);
    await waitFor(() => log.messages(`failed to create NetworkIntent CR ${later}/`).length >= 2, {
      description: 'the intent retried twice',
      timeoutMs: 30_000,
    });
    await rm(path);
    await waitFor(() => log.messages(`${path} was removed before its content was submitted`).length > 0, {
      description: 'the intent withdrawn',
      timeoutMs: 30_000,
    });
    const tries = log.messages(`failed to create NetworkIntent CR ${later}/`).length;

    // The namespace made, a file dropped after the removal is submitted; the removed one is not.
    await client.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: later, labels: { 'tutti.dev/test': 'true' } },
    });
    await dropIntent(dirs.dir, 'intent-db.json', intent(later, 'db'));
    await waitFor(async () => (await readState(dirs.dir))['intent-db.json'], {
      description: 'intent-db.json processed',
      timeoutMs: 30_000,
    });
    assert.equal(await client.find(NetworkIntents, networkIntentName(doc as Intent), later), undefined);
    assert.equal(log.messages(`failed to create NetworkIntent CR ${later}/`).length, tries, 'no try after');
    assert.equal((await readState(dirs.dir))['intent-web.json'], undefined);
  });
});
