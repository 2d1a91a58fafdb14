/** The gitops commands as a user runs them: files in, JSON, YAML or a pushed commit out. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { GitHttpServer } from '../../../src/gitops/git-http-server.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

/**
 * Runs tutti and resolves with its exit code and output. A child that could not be started, or
 * that a signal ended, has no exit code of its own: that rejects, naming why, rather than passing
 * for an exit code the assertions would misreport.
 */
function tutti(env: NodeJS.ProcessEnv, ...args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      [TUTTI, ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        if (typeof err.code === 'number') return resolve({ code: err.code, stdout, stderr });
        const why = err.signal ? `was ended by ${err.signal}` : `could not run: ${err.message}`;
        reject(new Error(`tutti ${args.join(' ')} ${why}\nstderr: ${stderr}`));
      },
    );
  });
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-gitops-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const SEED_INTENT = { intent: '5G network', requirements: { latency: '<1ms', throughput: '>1Gbps' } };

test('gitops translate prints the expectations of an intent file, and names what is wrong in a bad one', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'intent.json'), JSON.stringify(SEED_INTENT));
  const ok = await tutti({}, 'gitops', 'translate', '-f', join(dir, 'intent.json'));
  assert.equal(ok.code, 0, ok.stderr);
  const expectations = JSON.parse(ok.stdout) as { intentExpectationId: string }[];
  assert.equal(expectations.length, 2);
  for (const e of expectations) assert.match(e.intentExpectationId, /\S/);

  await writeFile(
    join(dir, 'bad.json'),
    JSON.stringify({ ...SEED_INTENT, requirements: { latency: 'fast', throughput: '>1Gbps' } }),
  );
  const bad = await tutti({}, 'gitops', 'translate', '-f', join(dir, 'bad.json'));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /latency/);
  assert.match(bad.stderr, /not a number/);
});

test('gitops publish pushes the rendered tree once, then reports it unchanged; --repo is required', async (t) => {
  const dir = await tempDir(t);
  const credentials = { username: 'admin1', password: 's3cret' };
  const server = new GitHttpServer({ root: join(dir, 'git'), ...credentials });
  await server.start(0);
  t.after(() => server.stop());
  const repo = await server.createRepository('admin1/edge1-config');
  await writeFile(join(dir, 'intent.json'), JSON.stringify(SEED_INTENT));
  const env = { TUTTI_GIT_USERNAME: credentials.username, TUTTI_GIT_PASSWORD: credentials.password };
  const publish = () => tutti(env, 'gitops', 'publish', '-f', join(dir, 'intent.json'), '--repo', repo);

  const first = await publish();
  assert.equal(first.code, 0, first.stderr);
  const commit = /^pushed ([0-9a-f]{40})$/m.exec(first.stdout)?.[1];
  assert.ok(commit, first.stdout);
  const again = await publish();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^unchanged at ${commit}$`, 'm'));

  const denied = await tutti(
    { ...env, TUTTI_GIT_PASSWORD: 'wrong' },
    'gitops',
    'publish',
    '-f',
    join(dir, 'intent.json'),
    '--repo',
    repo,
  );
  assert.notEqual(denied.code, 0);
  assert.match(
    denied.stderr,
    /authentication failed: the server refused the username and password or token given/,
  );
  assert.doesNotMatch(denied.stderr, /\n\s+at /, 'an error, not a stack trace');

  const noRepo = await tutti({ TUTTI_GIT_REPO: '' }, 'gitops', 'publish', '-f', join(dir, 'intent.json'));
  assert.equal(noRepo.code, 2);
  assert.match(noRepo.stderr, /--repo is required/);
  // An SSH address would meet git's SSH client, which has neither these credentials nor a prompt.
  const ssh = await tutti(
    {},
    'gitops',
    'publish',
    '-f',
    join(dir, 'intent.json'),
    '--repo',
    'git@example.invalid:x/y.git',
  );
  assert.equal(ssh.code, 2);
  assert.match(ssh.stderr, /--repo: "git@example\.invalid:x\/y\.git" is not an HTTP\(S\) URL/);

  // An empty file would publish an empty tree and withdraw every intent from the edge.
  for (const empty of ['[]', '{"expectations": []}']) {
    await writeFile(join(dir, 'empty.json'), empty);
    const refused = await tutti(env, 'gitops', 'publish', '-f', join(dir, 'empty.json'), '--repo', repo);
    assert.equal(refused.code, 2, refused.stdout);
    assert.match(refused.stderr, /empty\.json: holds no intent or expectation/);
  }
  const head = await tutti(env, 'gitops', 'publish', '-f', join(dir, 'intent.json'), '--repo', repo);
  assert.match(head.stdout, new RegExp(`^unchanged at ${commit}$`, 'm'));
});

test('gitops manifests prints a RootSync or Flux objects for the repository; an unknown engine is named', async () => {
  const repo = 'https://git.example/admin1/edge1-config.git';
  const configsync = await tutti({}, 'gitops', 'manifests', '--repo', repo, '--period', '1m');
  assert.equal(configsync.code, 0, configsync.stderr);
  const [rootSync] = parseAllDocuments(configsync.stdout).map((d) => d.toJS());
  assert.equal(rootSync.kind, 'RootSync');
  assert.equal(rootSync.spec.git.repo, repo);

  const flux = await tutti({}, 'gitops', 'manifests', '--engine', 'flux', '--repo', repo);
  assert.equal(flux.code, 0, flux.stderr);
  const kinds = parseAllDocuments(flux.stdout).map((d) => d.toJS()?.kind);
  assert.deepEqual(kinds.filter(Boolean).sort(), ['GitRepository', 'Kustomization']);

  const argo = await tutti({}, 'gitops', 'manifests', '--engine', 'argo', '--repo', repo);
  assert.equal(argo.code, 2, argo.stderr);
  assert.match(argo.stderr, /--engine: "argo" is not configsync or flux/);
  const period = await tutti({}, 'gitops', 'manifests', '--repo', repo, '--period', 'soon');
  assert.equal(period.code, 2, period.stderr);
  assert.match(period.stderr, /--period: "soon" is not a duration/);
});
