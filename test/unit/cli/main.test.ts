import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { helpText } from '../../../src/cli/command.js';
import { commands } from '../../../src/cli/commands.js';
import { ETCD_VERSION } from '../../../src/cluster/binaries.js';
import { startTicksOf } from '../../../src/cluster/processes.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { startTutti } from '../../support/command.js';
import { hungCluster } from '../../support/hung-cluster.js';

const tutti = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runWith(process.env, ...args);
}

function runWith(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [tutti, ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

describe('tutti command groups', () => {
  test('--help on a group lists its commands', async () => {
    const { code, stdout } = await run('cluster', '--help');
    assert.equal(code, 0);
    assert.match(stdout, /Usage: tutti cluster <command>/);
    for (const sub of ['up', 'down', 'status', 'kubeconfig', 'build'])
      assert.match(stdout, new RegExp(`cluster ${sub} `));
  });

  test('an unknown subcommand is named, with the list beside it', async () => {
    const { code, stderr } = await run('cluster', 'upp');
    assert.equal(code, 2);
    assert.match(stderr, /tutti cluster: unknown command "upp"/);
    assert.match(stderr, /cluster up /);
  });

  test('an unknown command gets the overview', async () => {
    const { code, stderr } = await run('frobnicate');
    assert.equal(code, 2);
    assert.match(stderr, /unknown command "frobnicate"/);
    assert.match(stderr, /Commands:/);
  });

  test('a mistyped command, subcommand or flag gets the closest one suggested', async () => {
    for (const [args, said] of [
      [['clustr'], 'tutti: unknown command "clustr"; did you mean "cluster"?'],
      [['--versoin'], 'tutti: unknown command "--versoin"; did you mean "--version"?'],
      [['cluster', 'stauts'], 'tutti cluster: unknown command "stauts"; did you mean "status"?'],
      [['up', '--helth-port', '0'], `tutti up: Unknown option '--helth-port'; did you mean "--health-port"?`],
    ] as const) {
      const { code, stderr } = await run(...args);
      assert.equal(code, 2, args.join(' '));
      assert.ok(stderr.startsWith(said), `${args.join(' ')}: ${stderr}`);
    }
  });
});

test('every command that takes a kubeconfig also takes its context, as kubectl does', () => {
  const withKubeconfig = commands.filter((c) => c.options?.['kubeconfig'] || c.options?.['edge-kubeconfig']);
  assert.ok(withKubeconfig.length >= 10, withKubeconfig.map((c) => c.name).join(', '));
  for (const cmd of withKubeconfig) {
    const help = helpText(cmd);
    for (const [file, context] of [
      ['kubeconfig', 'context'],
      ['edge-kubeconfig', 'edge-context'],
    ])
      if (help.includes(`--${file} <value>`))
        assert.match(help, new RegExp(`--${context} <value>`), cmd.name);
  }
});

test('tutti up --context without KUBECONFIG is refused before any plane starts', async () => {
  const { code, stderr } = await runWith({ ...process.env, KUBECONFIG: '' }, 'up', '--context', 'edge');
  assert.equal(code, 2);
  assert.match(stderr, /--context picks a context of the kubeconfig in KUBECONFIG, and KUBECONFIG is unset/);
});

test('tutti --version and tutti version print the package version', async () => {
  const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
  for (const arg of ['--version', 'version']) {
    const { code, stdout } = await run(arg);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^tutti ${version.replaceAll('.', '\\.')} \\(node v\\d+`));
  }
});

test('help and the version print whatever the environment holds; a bad setting is refused, named, when a command runs', async () => {
  for (const [name, value, args] of [
    ['TUTTI_LOG_LEVEL', 'loud', ['operator', '--help']],
    ['TUTTI_LOG_LEVEL', 'loud', ['--help']],
    ['TUTTI_LOG_LEVEL', 'loud', ['--version']],
    ['TUTTI_LOG_LEVEL', '', ['up', '-h']],
    ['TUTTI_LEADER_ELECT', 'maybe', ['operator', '--help']],
    ['HOURGLASS_LEADER_ELECT', 'perhaps', ['hourglass-operator', '-help']],
  ] as const) {
    const { code, stdout, stderr } = await runWith({ ...process.env, [name]: value }, ...args);
    assert.equal(code, 0, `${name}=${value} tutti ${args.join(' ')}: ${stderr}`);
    assert.equal(stderr, '', `${name}=${value} tutti ${args.join(' ')}`);
    assert.match(stdout, /Usage: tutti |^tutti \d/);
  }
  const refused = [
    ['operator', 'TUTTI_LOG_LEVEL', 'loud', 'expected one of trace, debug, info, warn, error, fatal, silent'],
    ['operator', 'TUTTI_LEADER_ELECT', 'maybe', 'expected true or false'],
    ['hourglass-operator', 'HOURGLASS_LEADER_ELECT', 'perhaps', 'expected true or false'],
  ] as const;
  for (const [command, name, value, allowed] of refused) {
    const env = { ...process.env, [name]: value };
    const { code, stderr } = await runWith(env, command, '--kubeconfig', '/nonexistent/kubeconfig');
    assert.equal(code, 2, stderr);
    assert.equal(stderr, `tutti ${command}: ${name}=${value}: ${allowed}\n`);
  }
  // A value the command reads later, refused as its flag's, says where it was set.
  const port = await runWith(
    { ...process.env, TUTTI_HEALTH_PORT: 'abc' },
    'operator',
    '--kubeconfig',
    '/nonexistent/kubeconfig',
  );
  assert.equal(port.code, 2, port.stderr);
  assert.equal(
    port.stderr,
    'tutti operator: --health-port: "abc" must be a whole number from 0 to 65535 (set by TUTTI_HEALTH_PORT)\n',
  );
  // An empty level is no level, as an empty value of any other setting: the default holds.
  const { stderr } = await runWith({ ...process.env, TUTTI_LOG_LEVEL: '' }, 'operator', '--module', 'gitopz');
  assert.match(stderr, /^tutti operator: --module: no module named "gitopz"/);
});

test('output piped into a reader that stops early (tutti --help | head -1) ends quietly', async () => {
  const child = spawn(process.execPath, [tutti, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader goes away before tutti writes: its writes find the pipe closed (EPIPE).
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = await once(child, 'exit');
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

test('tutti operator --module with no such module is refused before any cluster is reached, naming the modules', async () => {
  const { code, stderr } = await run(
    'operator',
    '--module',
    'gitopz',
    '--kubeconfig',
    '/nonexistent/kubeconfig',
  );
  assert.equal(code, 2, stderr);
  assert.match(
    stderr,
    /^tutti operator: --module: no module named "gitopz" \(did you mean "gitops"\?\); choose from gitops, conductor, hourglass, planner\n/,
  );
  const help = await run('operator', '--help');
  assert.match(
    help.stdout,
    /--module <value> +run only this module \(repeatable; default all\): gitops, conductor/,
  );
});

test("a module's bad flag (--planner-actuator) is refused before any cluster is reached", async () => {
  const { code, stderr } = await run(
    'operator',
    '--planner-actuator',
    'scale_up',
    '--kubeconfig',
    '/nonexistent/kubeconfig',
  );
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr,
    'tutti operator: --planner-actuator: unknown actuator "scale_up"; choose from scale_out, scale_in, rm_pod, cpu_scale\n',
  );
});

test('tutti cluster down: a lock left by a process that is gone is taken over, one held by a live tutti is waited for, saying so', async (t) => {
  const state = await mkdtemp(join(tmpdir(), 'tutti-state-'));
  t.after(() => rm(state, { recursive: true, force: true }));
  const lock = join(state, 'clusters', 'lock-check.lock');
  await mkdir(dirname(lock), { recursive: true });
  const env = { ...process.env, TUTTI_STATE_DIR: state };
  // A lock file, as a Tutti from before lock directories left it. A live pid that started after
  // the lock was written: its holder is gone and the pid was given again (as after a reboot).
  const ticks = await startTicksOf(process.pid);
  await writeFile(lock, `${process.pid} ${ticks! + 1}`);
  const down = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [tutti, 'cluster', 'down', '--name', 'lock-check'],
      { env, timeout: 30_000 },
      (err, _out, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }),
    );
  });
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, /cluster "lock-check" is down/);

  // The same pid, started when the lock says: a live holder, waited for until it lets go.
  await writeFile(lock, `${process.pid} ${ticks}`);
  const waiting = await startTutti(
    t,
    ['cluster', 'down', '--name', 'lock-check'],
    /waiting for process (\d+), which holds (\S+)/,
    {
      TUTTI_STATE_DIR: state,
    },
  );
  assert.equal(Number(waiting.ready[1]), process.pid);
  assert.equal(waiting.ready[2], lock);
  const exit = once(waiting.child, 'exit');
  await rm(lock);
  assert.equal((await exit)[0], 0, waiting.output());
  assert.match(waiting.output(), /cluster "lock-check" is down/);
});

test('tutti cluster status and cluster kubeconfig of a cluster never started say how to start that cluster', async (t) => {
  const state = await mkdtemp(join(tmpdir(), 'tutti-state-'));
  t.after(() => rm(state, { recursive: true, force: true }));
  const { code, stdout } = await runWith(
    { ...process.env, TUTTI_STATE_DIR: state },
    'cluster',
    'status',
    '--name',
    'hint-check',
  );
  assert.equal(code, 1);
  assert.match(stdout, /^cluster: +hint-check \(not created\)\n/);
  assert.match(stdout, /\nstart it: tutti cluster up --name hint-check\n$/);
  assert.doesNotMatch(stdout, /stopped/, 'no component list for a cluster that has none');
  // The kubeconfig of that cluster: the same hint, which starts that cluster, not the default one.
  const kubeconfig = await runWith(
    { ...process.env, TUTTI_STATE_DIR: state },
    'cluster',
    'kubeconfig',
    '--name',
    'hint-check',
  );
  assert.equal(kubeconfig.code, 1);
  assert.equal(
    kubeconfig.stderr,
    'tutti: cluster "hint-check" is not up; run: tutti cluster up --name hint-check\n',
  );
});

test('a cluster name that cannot be is a usage error (exit 2) that says what a name may be', async () => {
  for (const args of [
    ['cluster', 'up', '--name', 'My_Cluster'],
    ['cluster', 'down', '--name=-x'],
    ['cluster', 'status', '--name', 'a'.repeat(64)],
  ]) {
    const { code, stderr } = await run(...args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(
      stderr,
      /--name: cluster name ".*" must be 1 to 63 lower-case letters, digits and '-', starting with a letter or digit\n$/,
    );
  }
  const up = await runWith({ ...process.env, KUBECONFIG: '' }, 'up', '--name', 'x y');
  assert.equal(up.code, 2, up.stderr);
});

test('tutti cluster build waiting on a build another tutti holds says once who builds what, since when, and where it logs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-build-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = join(dir, 'cache');
  const given = join(dir, 'given');
  const fakeGo = join(dir, 'path');
  // Every binary is given but etcd, so both commands build etcd alone; the `go` they find runs
  // as long as the tutti that started it, which so holds the build lock until the test ends it.
  await mkdir(given);
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kwokctl']) {
    await writeFile(join(given, name), '#!/bin/sh\n', { mode: 0o755 });
  }
  await mkdir(fakeGo);
  await writeFile(
    join(fakeGo, 'go'),
    '#!/bin/sh\nwhile kill -0 $PPID 2>/dev/null; do sleep 0.2; done\nexit 1\n',
    { mode: 0o755 },
  );
  const env = {
    TUTTI_CACHE_DIR: cache,
    TUTTI_BIN_DIR: given,
    KUBEBUILDER_ASSETS: '',
    PATH: `${fakeGo}:${process.env['PATH']}`,
  };
  const args = ['cluster', 'build', '--no-helm'];
  const holder = await startTutti(t, args, /building etcd from (\S+)/, env);
  const waiting = await startTutti(t, args, /waiting for process .*/, env);
  const lock = join(cache, 'locks', 'build-etcd.lock');
  const log = join(cache, 'build', `etcd-${ETCD_VERSION}`, 'build.log');
  assert.equal(
    waiting.ready[0],
    `waiting for process ${holder.child.pid}, which holds ${lock} since ${waiting.ready[0].match(/\d\d:\d\d:\d\d/)?.[0]} (less than a minute ago): building etcd from go.etcd.io/etcd/server/v3@${ETCD_VERSION} (log: ${log})`,
  );
  // The holder finishes (here: its etcd appears, and it is gone); the waiter finds it built.
  const built = join(cache, 'bin', `etcd-${ETCD_VERSION}`, 'etcd');
  await mkdir(dirname(built), { recursive: true });
  await writeFile(built, '#!/bin/sh\n', { mode: 0o755 });
  await holder.stop('SIGKILL');
  const exit = once(waiting.child, 'exit');
  assert.equal((await exit)[0], 0, waiting.output());
  assert.match(waiting.output(), new RegExp(`etcd +${built}`));
  assert.equal(waiting.output().match(/waiting for process/g)?.length, 1, waiting.output());
});

test('Ctrl-C or SIGTERM while tutti cluster build or cluster up builds a binary stops the build, its go too, and ends with exit 130, the build lock released', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-build-stop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const given = join(dir, 'given');
  const fakeGo = join(dir, 'path');
  const goPids = join(dir, 'go.pids');
  await mkdir(given);
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kwokctl']) {
    await writeFile(join(given, name), '#!/bin/sh\n', { mode: 0o755 });
  }
  await mkdir(fakeGo);
  // A build that goes on until it is stopped, as go's of etcd does for minutes.
  await writeFile(join(fakeGo, 'go'), `#!/bin/sh\necho $$ >> ${goPids}\nexec tail -f /dev/null\n`, {
    mode: 0o755,
  });
  const goRunning = async () => {
    const pids = (await readFile(goPids, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    return pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  };
  t.after(async () => {
    for (const pid of await goRunning()) process.kill(pid, 'SIGKILL');
  });
  const envWith = (cache: string) => ({
    TUTTI_CACHE_DIR: cache,
    TUTTI_STATE_DIR: join(dir, 'state'),
    TUTTI_BIN_DIR: given,
    KUBEBUILDER_ASSETS: '',
    PATH: `${fakeGo}:${process.env['PATH']}`,
  });
  for (const [args, signal, said] of [
    [
      ['cluster', 'build', '--no-helm'],
      'SIGTERM',
      /SIGTERM: stopping the build\n.*interrupted while building; the build is stopped\n$/,
    ],
    [['cluster', 'up', '--name', 'build-stop'], 'SIGINT', /interrupted while cluster "build-stop" started/],
  ] as const) {
    const cache = await mkdtemp(join(dir, 'cache-'));
    const env = envWith(cache);
    const building = await startTutti(t, args, /building etcd from/, env);
    await waitFor(async () => (await goRunning()).length > 0, {
      description: 'go to start',
      timeoutMs: 30_000,
    });
    const code = await building.stop(signal, 30_000);
    assert.equal(code, 130, `${args.join(' ')}: ${building.output()}`);
    assert.match(building.output(), said);
    assert.deepEqual(await goRunning(), [], `${args.join(' ')} left its go running`);
    assert.deepEqual(await readdir(join(cache, 'locks')), [], `${args.join(' ')} kept the build lock`);
  }
  // One that waits for another's build stops waiting.
  const env = envWith(await mkdtemp(join(dir, 'cache-')));
  const holder = await startTutti(t, ['cluster', 'build', '--no-helm'], /building etcd from/, env);
  const waiting = await startTutti(t, ['cluster', 'up', '--name', 'build-wait'], /waiting for process/, env);
  assert.equal(await waiting.stop('SIGINT', 30_000), 130, waiting.output());
  assert.match(waiting.output(), /interrupted while cluster "build-wait" started/);
  assert.equal(await holder.stop('SIGTERM', 30_000), 130, holder.output());
});

test('Ctrl-C while tutti up or tutti operator installs the CRDs stops the start: a message, exit code 130, and the process ends by itself, or at once on a second Ctrl-C', async (t) => {
  const interrupted = async (args: readonly string[], name: string, ready: RegExp, twice = false) => {
    // The command's first requests, the CRDs' install, hang.
    const { kubeconfig, connected } = await hungCluster(t);
    const starting = await startTutti(t, [...args, '--health-port', '0'], ready, { KUBECONFIG: kubeconfig });
    await waitFor(() => connected.length > 0, {
      description: `tutti ${name} to reach the cluster`,
      timeoutMs: 30_000,
    });
    if (twice) {
      starting.child.kill('SIGINT');
      await waitFor(() => starting.output().includes('SIGINT: stopping Tutti'), {
        description: `tutti ${name} to say it stops`,
        timeoutMs: 10_000,
      });
      // Whatever the stop still waits for, the second Ctrl-C does not: the command ends with 130,
      // or, had it already said its last word, the signal ends what is left at once.
      const code = await starting.stop('SIGINT', 5_000);
      assert.ok(code === 130 || starting.child.signalCode === 'SIGINT', `${code}: ${starting.output()}`);
      return;
    }
    // Its requests are called off and its client closed, a discovery request in flight too:
    // nothing keeps it alive until a request's 30 s deadline.
    assert.equal(await starting.stop('SIGINT', 15_000), 130, starting.output());
    assert.match(
      starting.output(),
      new RegExp(
        `\\ntutti ${name}: interrupted while Tutti started; it is stopped \\(CRDs it installed stay\\)\\n$`,
      ),
    );
  };
  await Promise.all([
    interrupted(['up'], 'up', /starting Tutti/),
    // The operator says nothing before: its connection to the cluster is what tells.
    interrupted(['operator'], 'operator', /^/),
    interrupted(['operator'], 'operator', /^/, true),
    interrupted(['hourglass-operator'], 'hourglass-operator', /^/),
  ]);
});
