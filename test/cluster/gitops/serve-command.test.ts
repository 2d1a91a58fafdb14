/**
 * `tutti gitops serve` as an operator of the SMO runs it: flags and environment in, the TMF921 API
 * out, intents kept on the SMO cluster across a restart, and a clean stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { GitHttpServer } from '../../../src/gitops/git-http-server.js';
import { INTENT_PATH, type IntentResource } from '../../../src/gitops/tmf921/intent.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace, twoContextKubeconfig } from '../../support/cluster.js';
import { startTutti } from '../../support/command.js';
import { tmf921Intent } from './support.js';

const credentials = { username: 'admin1', password: 's3cret' };

/** Starts the command; resolves once it prints its collection URL. */
async function serve(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}) {
  const running = await startTutti(
    t,
    ['gitops', 'serve', '--port', '0', ...args],
    /TMF921 intents on (http:\/\/\S+)/,
    { ...env, TUTTI_GIT_USERNAME: credentials.username, TUTTI_GIT_PASSWORD: credentials.password },
  );
  return { ...running, url: running.ready[1]! };
}

test('gitops serve: an intent posted is stored on the SMO, pushed to git, and still there after a restart', async (t) => {
  const client = await testClient(t);
  const namespace = await testNamespace(t, client, 'smo');
  const root = await mkdtemp(join(tmpdir(), 'tutti-serve-'));
  const git = new GitHttpServer({ root, ...credentials });
  await git.start(0);
  t.after(async () => {
    await git.stop();
    await rm(root, { recursive: true, force: true, maxRetries: 5 });
  });
  const repo = await git.createRepository('admin1/edge1-config');
  // The SMO is reached through a context other than the current one.
  const kubeconfig = await twoContextKubeconfig(t);
  const args = ['--repo', repo, '--context', 'plane', '--namespace', namespace];

  const first = await serve(t, [...args, '--kubeconfig', kubeconfig]);
  assert.equal(new URL(first.url).pathname, INTENT_PATH);
  const id = `serve-${randomBytes(3).toString('hex')}`;
  const created = await fetch(first.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tmf921Intent(id, { latency: '<5ms' })),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const published = await waitFor(
    async () => {
      const r = (await (await fetch(`${first.url}/${id}`)).json()) as IntentResource;
      return r.lifecycleStatus === 'inProgress' && r;
    },
    { description: `intent ${id} to be pushed (inProgress)`, timeoutMs: 60_000, intervalMs: 200 },
  );
  const message = String(published.characteristic.find((c) => c.name === 'statusMessage')?.value);
  const commit = /published in commit ([0-9a-f]{40})/.exec(message)?.[1];
  assert.ok(commit, message);
  const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  const { stdout: heads } = await promisify(execFile)('git', [
    '-c',
    `http.extraHeader=Authorization: Basic ${auth}`,
    'ls-remote',
    repo,
    'refs/heads/main',
  ]);
  assert.equal(heads.split('\t')[0], commit, 'the branch points at the commit the intent names');
  assert.equal(await first.stop(), 0, first.output());

  // Restarted with KUBECONFIG listing files instead, as kubectl reads it.
  const second = await serve(t, args, { KUBECONFIG: `${join(root, 'absent.yaml')}:${kubeconfig}` });
  const list = (await (await fetch(second.url)).json()) as IntentResource[];
  assert.deepEqual(
    list.map((i) => [i.id, i.lifecycleStatus]),
    [[id, 'inProgress']],
  );
  assert.equal(await second.stop(), 0, second.output());
});
