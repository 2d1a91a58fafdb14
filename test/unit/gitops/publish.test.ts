import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { GitError } from '../../../src/gitops/git.js';
import { GitHttpServer } from '../../../src/gitops/git-http-server.js';
import { publishTree } from '../../../src/gitops/publish.js';
import { renderTree } from '../../../src/gitops/render.js';
import { translateIntent } from '../../../src/gitops/translate.js';

const run = promisify(execFile);
const credentials = { username: 'admin1', password: 's3cret' };

async function gitServer(t: { after(fn: () => Promise<void>): void }) {
  const root = await mkdtemp(join(tmpdir(), 'tutti-git-'));
  const server = new GitHttpServer({ root, ...credentials });
  await server.start(0);
  t.after(async () => {
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  return { server, root, repo: await server.createRepository('admin1/edge1-config') };
}

/** What a user cloning the repository sees. */
async function clone(repo: string, t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-clone-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  await run('git', ['-c', `http.extraHeader=Authorization: Basic ${auth}`, 'clone', '--quiet', repo, dir]);
  return dir;
}

test('publish commits and pushes the rendered tree over HTTP, once per change', async (t) => {
  const { repo } = await gitServer(t);
  const expectations = translateIntent({
    intent: '5G network',
    requirements: { latency: '<1ms', jitter: '<2ms' },
  });
  const tree = renderTree(expectations);
  const ids = expectations.map((e) => e.intentExpectationId);

  const first = await publishTree(tree, ids, { repo, credentials });
  assert.equal(first.changed, true);
  const dir = await clone(repo, t);
  assert.equal(
    await readFile(join(dir, 'apps/intent/cn_capacity.yaml'), 'utf8'),
    tree.get('apps/intent/cn_capacity.yaml'),
  );
  assert.equal(await readFile(join(dir, 'kustomization.yaml'), 'utf8'), tree.get('kustomization.yaml'));
  const log = (await run('git', ['log', '--format=%H%n%B', 'main'], { cwd: dir })).stdout;
  assert.match(log, new RegExp(`^${first.commit}\n`));
  assert.match(log, /intent-to-krm: 2 expectations \(cn-cap-001, tn-cov-001\)/);
  assert.match(log, /Expectation-Id: cn-cap-001\nExpectation-Id: tn-cov-001/);

  const again = await publishTree(tree, ids, { repo, credentials });
  assert.deepEqual(again, { commit: first.commit, changed: false });

  // An expectation removed from the input leaves the repository with the next publish.
  const fewer = translateIntent({ intent: '5G network', requirements: { latency: '<1ms' } });
  const second = await publishTree(renderTree(fewer), ['cn-cap-001'], { repo, credentials });
  assert.equal(second.changed, true);
  const dir2 = await clone(repo, t);
  await assert.rejects(readFile(join(dir2, 'apps/intent/tn_coverage.yaml')), { code: 'ENOENT' });
  const count = (await run('git', ['rev-list', '--count', 'main'], { cwd: dir2 })).stdout.trim();
  assert.equal(count, '2');
});

test('a push with bad credentials is reported as an authentication failure', async (t) => {
  const { repo } = await gitServer(t);
  const tree = renderTree(translateIntent({ intent: 'x', requirements: { latency: '<1ms' } }));
  await assert.rejects(
    publishTree(tree, ['cn-cap-001'], { repo, credentials: { username: 'admin1', password: 'wrong' } }),
    (err: unknown) => {
      assert.ok(err instanceof GitError);
      assert.equal(err.failure, 'auth');
      assert.match(
        err.message,
        new RegExp(`^git ls-remote \\(${repo.replace(/[.]/g, '\\.')}\\): authentication failed`),
      );
      assert.doesNotMatch(err.message, /wrong/);
      return true;
    },
  );
  await assert.rejects(publishTree(tree, ['cn-cap-001'], { repo }), { failure: 'auth' });
});

test('an authentication failure says whether credentials were refused or missing, not how git failed to prompt', async (t) => {
  const { repo } = await gitServer(t);
  const tree = renderTree(translateIntent({ intent: 'x', requirements: { latency: '<1ms' } }));
  await assert.rejects(
    publishTree(tree, [], { repo, credentials: { username: 'admin1', password: 'wrong' } }),
    (err: Error) => {
      assert.match(
        err.message,
        /authentication failed: the server refused the username and password or token given$/,
      );
      return true;
    },
  );
  await assert.rejects(publishTree(tree, [], { repo }), (err: Error) => {
    assert.match(
      err.message,
      /authentication failed: the server asks for credentials and none were given \(TUTTI_GIT_USERNAME, TUTTI_GIT_PASSWORD\)$/,
    );
    return true;
  });
});

test('a push the server refuses (a pre-receive hook) says so with its reason, and is not retried', async (t) => {
  const { root, repo } = await gitServer(t);
  const bare = join(root, 'admin1/edge1-config.git');
  const calls = join(bare, 'hook-calls');
  await writeFile(
    join(bare, 'hooks/pre-receive'),
    `#!/bin/sh\necho call >> '${calls}'\necho "main is protected: changes need a review" >&2\nexit 1\n`,
    { mode: 0o755 },
  );
  const tree = renderTree(translateIntent({ intent: 'x', requirements: { latency: '<1ms' } }));
  await assert.rejects(publishTree(tree, ['cn-cap-001'], { repo, credentials }), (err: unknown) => {
    assert.ok(err instanceof GitError);
    assert.equal(err.failure, 'declined');
    assert.match(
      err.message,
      /^git push \(.*\): the server refused the push: \[remote rejected\] HEAD -> main \(pre-receive hook declined\); main is protected: changes need a review$/,
    );
    return true;
  });
  assert.equal((await readFile(calls, 'utf8')).trim().split('\n').length, 1);
});

test('an unreachable server is reported as such', async (t) => {
  const { server, repo } = await gitServer(t);
  await server.stop();
  const tree = renderTree(translateIntent({ intent: 'x', requirements: { latency: '<1ms' } }));
  await assert.rejects(publishTree(tree, [], { repo, credentials }), { failure: 'unreachable' });
});

test('a publisher that loses the race for the branch on the server retries on top of the winner, losing neither', async (t) => {
  const { root, repo } = await gitServer(t);
  const bare = join(root, 'admin1/edge1-config.git');
  const tree = (requirements: Record<string, string>) =>
    renderTree(translateIntent({ intent: 'x', requirements }));
  await publishTree(tree({ latency: '<1ms' }), ['cn-cap-001'], { repo, credentials });

  // Another publisher's commit, ready on a side branch.
  const other = await clone(repo, t);
  await writeFile(join(other, 'README.md'), 'edge1\n');
  const id = ['-c', 'user.name=other', '-c', 'user.email=other@example.com'];
  await run('git', ['add', 'README.md'], { cwd: other });
  await run('git', [...id, 'commit', '--quiet', '-m', 'readme'], { cwd: other });
  await run('git', ['push', '--quiet', join(bare), 'HEAD:refs/heads/other'], { cwd: other });
  // It lands on main while the server receives our push, after the client saw the old main: the
  // server then refuses our ref update, as it does when two pushes reach it together.
  await writeFile(
    join(bare, 'hooks/pre-receive'),
    `#!/bin/sh\nif [ ! -e raced ]; then touch raced; env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/heads/other; fi\n`,
    { mode: 0o755 },
  );

  const result = await publishTree(tree({ latency: '<1ms', jitter: '<2ms' }), ['cn-cap-001', 'tn-cov-001'], {
    repo,
    credentials,
  });
  assert.equal(result.changed, true);
  const dir = await clone(repo, t);
  assert.equal(await readFile(join(dir, 'README.md'), 'utf8'), 'edge1\n');
  assert.ok(await readFile(join(dir, 'apps/intent/tn_coverage.yaml'), 'utf8'));
  assert.equal((await run('git', ['rev-parse', 'HEAD'], { cwd: dir })).stdout.trim(), result.commit);
});
