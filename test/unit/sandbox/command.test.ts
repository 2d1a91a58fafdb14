import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../../src/runtime/wait.js';
import {
  capOutput,
  commandArgv,
  LEFTOVERS_STOPPED,
  TIMEOUT_EXIT_CODE,
} from '../../../src/sandbox/command.js';

/** Runs the argv as exec would in a pod: here, on this machine. */
function run(argv: string[], stdin?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) }));
    child.stdin?.end(stdin);
  });
}

/** Whether process `pid` has ended: a signal 0 sent to it fails. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

test('the command runs in the working directory with the environment and stdin it was given', async () => {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'sandbox-cmd-')));
  const r = await run(
    commandArgv({
      command: 'pwd; echo "$GREETING"; cat; exit 3',
      cwd: dir,
      env: { GREETING: 'hi there' },
      timeoutMs: 10_000,
    }),
    'from stdin',
  );
  assert.equal(r.stdout, `${dir}\nhi there\nfrom stdin`);
  assert.equal(r.code, 3);
});

test('a working directory that does not exist fails the command with the reason', async () => {
  const r = await run(commandArgv({ command: 'true', cwd: '/nonexistent/dir', timeoutMs: 10_000 }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nonexistent/);
});

test('the timeout stops the command and the children it started in the background', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-timeout-'));
  const pidFile = join(dir, 'child.pid');
  const r = await run(commandArgv({ command: `sleep 300 & echo $! > ${pidFile}; wait`, timeoutMs: 500 }));
  assert.equal(r.code, TIMEOUT_EXIT_CODE);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  await waitFor(() => gone(pid), { description: `background child ${pid} to be gone`, timeoutMs: 10_000 });
});

test('a command that leaves a process running ends with its own exit code, and the process is stopped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-leftover-'));
  const pidFile = join(dir, 'server.pid');
  // The "server" holds stdout and would run a minute: the call must not wait for it.
  const r = await run(
    commandArgv({
      command: `i=0; while [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done & echo $! > ${pidFile}; echo tests passed; exit 3`,
      timeoutMs: 120_000,
    }),
  );
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'tests passed\n');
  assert.equal(r.stderr, `${LEFTOVERS_STOPPED}\n`);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  await waitFor(() => gone(pid), {
    description: `the left-over process ${pid} to be gone`,
    timeoutMs: 10_000,
  });
  // A command that leaves nothing gets no note.
  assert.deepEqual(await run(commandArgv({ command: 'echo alone', timeoutMs: 10_000 })), {
    stdout: 'alone\n',
    stderr: '',
    code: 0,
  });
});

test('a process the command left with its output sent elsewhere keeps running for the commands after', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-daemon-'));
  const pidFile = join(dir, 'daemon.pid');
  const r = await run(
    commandArgv({
      command: `sleep 60 >/dev/null 2>&1 & echo $! > ${pidFile}; echo started`,
      timeoutMs: 10_000,
    }),
  );
  assert.deepEqual(r, { stdout: 'started\n', stderr: '', code: 0 });
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  t.after(() => process.kill(pid));
  assert.doesNotThrow(() => process.kill(pid, 0), 'the daemon still runs');
});

test('bad environment variable names and empty commands are refused with the reason', () => {
  assert.throws(
    () => commandArgv({ command: 'true', env: { 'BAD-NAME': 'x' }, timeoutMs: 1000 }),
    /BAD-NAME/,
  );
  assert.throws(() => commandArgv({ command: '  ', timeoutMs: 1000 }), /empty/);
  assert.throws(() => commandArgv({ command: 'true', timeoutMs: 0 }), /timeoutMs/);
});

test('output cut at the cap carries a marker; output under it does not', () => {
  assert.equal(capOutput('short', 1024, false), 'short');
  const full = 'x'.repeat(1024);
  assert.match(capOutput(full, 1024, true), /\[output truncated: only the first 1024 bytes were kept\]\n$/);
  // The other stream of a truncated result is left alone.
  assert.equal(capOutput('small', 1024, true), 'small');
});
