/**
 * `tutti operator` whose start fails after a module's setup opened a server (gitops's O2IMS APIs)
 * says why and ends by itself: what the setups opened is released with the manager, whether its
 * start failed or a later module's setup did. `tutti planner` likewise releases its plugin manager
 * and trace store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
/** Long enough for the CRD install on a busy machine; a process that hangs fails the test here. */
const EXIT_DEADLINE_MS = 90_000;

/** Runs `tutti operator` with `args`, in a namespace of its own, until it exits by itself. */
async function operatorUntilExit(t: TestContext, args: string[]): Promise<{ code: number; output: string }> {
  const ns = await testNamespace(t, await testClient(t), 'release');
  return tuttiUntilExit(t, ['operator', '--kubeconfig', testKubeconfig(), '--system-namespace', ns, ...args]);
}

/** Runs `tutti` with `args` until it exits by itself; fails with its output at the deadline. */
async function tuttiUntilExit(t: TestContext, args: string[]): Promise<{ code: number; output: string }> {
  const child = spawn(process.execPath, [TUTTI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TUTTI_LOG_FORMAT: 'json' },
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  let code: number | null | undefined;
  child.once('exit', (c) => (code = c));
  await waitFor(() => code !== undefined, {
    description: `tutti ${args.join(' ')} to exit by itself`,
    timeoutMs: EXIT_DEADLINE_MS,
  }).catch((err: Error) => {
    throw new Error(`${err.message}; its output:\n${output}`);
  });
  assert.equal(typeof code, 'number', `exited with a code, not killed:\n${output}`);
  return { code: code as number, output };
}

/** A port held open for the test: whoever else binds it fails with EADDRINUSE. */
async function takenPort(t: TestContext): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

const O2IMS = ['--module', 'gitops', '--o2ims-port', '0', '--o2ims-host', '127.0.0.1'];
const SERVING_O2IMS = /"port":\d+,"msg":"serving O2IMS on /;

test('tutti operator whose health port is taken after O2IMS listens says so and exits 1 by itself', async (t) => {
  const port = await takenPort(t);
  const { code, output } = await operatorUntilExit(t, [...O2IMS, '--health-port', String(port)]);
  assert.equal(code, 1, output);
  assert.match(output, SERVING_O2IMS, 'the O2IMS server listened before the start failed');
  assert.match(
    output,
    new RegExp(
      `tutti operator: --health-port ${port} is in use \\(is another Tutti running\\?\\); choose another port, or 0 for any free one\\n$`,
    ),
  );
});

test('tutti operator whose planner config is bad, after O2IMS listens, says so and exits 1 by itself', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-planner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  await writeFile(config, '{ "generic": ');
  const { code, output } = await operatorUntilExit(t, [
    ...O2IMS,
    '--module',
    'planner',
    '--planner-config',
    config,
    '--health-port',
    '0',
  ]);
  assert.equal(code, 1, output);
  assert.match(output, SERVING_O2IMS, 'the O2IMS server listened before the planner failed');
  assert.match(output, new RegExp(`tutti operator: ${config.replaceAll('.', '\\.')}: not valid JSON.*\\n$`));
});

test('tutti planner whose health port is taken after its plugin manager listens says so and exits 1 by itself', async (t) => {
  const port = await takenPort(t);
  const traceDir = await mkdtemp(join(tmpdir(), 'tutti-traces-'));
  t.after(() => rm(traceDir, { recursive: true, force: true }));
  const { code, output } = await tuttiUntilExit(t, [
    'planner',
    '--kubeconfig',
    testKubeconfig(),
    '--health-port',
    String(port),
    '--plugin-port',
    '0',
    '--trace-dir',
    traceDir,
  ]);
  assert.equal(code, 1, output);
  assert.match(output, /"port":\d+,"msg":"plugin manager listening"/);
  assert.match(
    output,
    new RegExp(`tutti planner: listen EADDRINUSE: address already in use 0\\.0\\.0\\.0:${port}\\n$`),
  );
});
