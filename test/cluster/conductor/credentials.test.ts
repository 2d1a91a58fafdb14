import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { kubeconfigVariant, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { dropIntent, errorReports, handoffDir, intent, loopProcess, readState } from './support.js';

describe('conductor-loop and its own credentials', () => {
  test('a 401 is an outage, not a bad file: the intent stays queued and the log says what is wrong', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'cred-401');
    const dirs = await handoffDir(t);
    // The real API server, a token it does not know.
    const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
      for (const u of doc.users) u.user = { token: 'revoked-token' };
    });
    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web'));

    const refused = loopProcess(t, kubeconfig, [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.equal(await refused.exited, 3, 'not submitted yet: exit code 3');
    assert.equal((await errorReports(dirs.errors)).size, 0, 'no error file for a valid intent');
    assert.deepEqual(await readState(dirs.dir), {}, 'left for the next run');
    const logged = refused.records.find(
      (r) =>
        r['level'] === 'error' &&
        String(r['msg']).includes("the API server refused conductor-loop's credentials (401 Unauthorized"),
    );
    assert.ok(logged, 'an error names the refused credentials');

    const accepted = loopProcess(t, testKubeconfig(), [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.equal(await accepted.exited, 0);
    assert.equal((await readState(dirs.dir))['intent-web.json']?.status, 'processed');
  });

  test('a credential plugin failing at request time keeps the intent queued; a bad kubeconfig fails at start', async (t) => {
    const client = await testClient(t);
    await installCrds(client, conductorCrds());
    const ns = await testNamespace(t, client, 'cred-exec');
    const dirs = await handoffDir(t);
    // A plugin that hands out the admin's certificate, already expired, once: every later call
    // fails, as one whose token service went down.
    let certificate = '';
    let key = '';
    const { kubeconfig, dir } = await kubeconfigVariant(t, (doc) => {
      const admin = doc.users[0]!.user as Record<string, string>;
      certificate = Buffer.from(admin['client-certificate-data']!, 'base64').toString();
      key = Buffer.from(admin['client-key-data']!, 'base64').toString();
      for (const u of doc.users) {
        u.user = {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: './credential-plugin.sh',
            interactiveMode: 'Never',
          },
        };
      }
    });
    const credential = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: {
        clientCertificateData: certificate,
        clientKeyData: key,
        expirationTimestamp: '2020-01-01T00:00:00Z',
      },
    };
    await writeFile(join(dir, 'credential.json'), JSON.stringify(credential));
    const plugin = join(dir, 'credential-plugin.sh');
    await writeFile(
      plugin,
      [
        '#!/bin/sh',
        `if [ -e "${dir}/used" ]; then echo "token service unavailable" >&2; exit 1; fi`,
        `touch "${dir}/used"`,
        `cat "${dir}/credential.json"`,
        '',
      ].join('\n'),
    );
    await chmod(plugin, 0o755);
    await dropIntent(dirs.dir, 'intent-web.json', intent(ns, 'web'));

    const failing = loopProcess(t, kubeconfig, [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.equal(await failing.exited, 3, 'not submitted yet: exit code 3');
    assert.equal((await errorReports(dirs.errors)).size, 0, 'no error file for a valid intent');
    assert.deepEqual(await readState(dirs.dir), {});
    const logged = failing.records.find(
      (r) =>
        r['level'] === 'error' &&
        String(r['msg']).includes('conductor-loop cannot get its credentials') &&
        String(r['msg']).includes('token service unavailable'),
    );
    assert.ok(logged, "an error names the plugin's failure");

    // The plugin failing from the start: the kubeconfig cannot be used, and the process says so.
    const broken = loopProcess(t, kubeconfig, [`--handoff-dir=${dirs.dir}`, '--once']);
    assert.notEqual(await broken.exited, 0);
    assert.ok(
      broken.records.some((r) => String(r['msg']).includes('token service unavailable')),
      'the start-up failure names the plugin error',
    );
    assert.deepEqual(await readState(dirs.dir), {});
  });
});
