/**
 * Runs the whole test suite in one `node --test` run: unit tests, then the tiers that need a
 * cluster against one local control plane started for the run and torn down at the end (even
 * when tests fail). TUTTI_TEST_KUBECONFIG points the cluster tiers at an existing cluster instead.
 *
 *   node --import tsx scripts/run-tests.ts [--tier unit|cluster|e2e]... [--only <substring>]
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalControlPlane } from '../src/cluster/control-plane.js';

const TIERS = ['unit', 'cluster', 'e2e'] as const;
type Tier = (typeof TIERS)[number];

const USAGE = `Usage: node --import tsx scripts/run-tests.ts [flags]

  --tier unit|cluster|e2e   run only this tier (repeatable; default all three)
  --only <substring>        run only the test files whose path contains it
  --concurrency <n>         test files at once (default 4; env TUTTI_TEST_CONCURRENCY)
  --skip-static             skip the typecheck and lint that precede a full run
  -h, --help                show this help

Env: TUTTI_TEST_KUBECONFIG runs the cluster tiers against that cluster instead of a plane of their own.`;

function parseOptions() {
  return parseArgs({
    options: {
      'skip-static': { type: 'boolean', default: false },
      tier: { type: 'string', multiple: true },
      only: { type: 'string' },
      concurrency: { type: 'string', default: process.env['TUTTI_TEST_CONCURRENCY'] ?? '4' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
let values: ReturnType<typeof parseOptions>['values'];
try {
  ({ values } = parseOptions());
} catch (err) {
  console.error(`run-tests: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const tiers = (values.tier ?? [...TIERS]) as Tier[];
for (const t of tiers)
  if (!TIERS.includes(t)) throw new Error(`unknown tier ${t}; choose from ${TIERS.join(', ')}`);

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

const root = join(import.meta.dirname, '..');
let files: string[] = [];
for (const tier of tiers) files.push(...(await testFiles(join(root, 'test', tier))));
if (values.only) files = files.filter((f) => f.includes(values.only!));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

/** Typecheck and lint before the full suite: a commit must pass both, not only the tests. */
async function staticChecks(): Promise<void> {
  for (const [label, cmd, args] of [
    ['typecheck', 'node_modules/.bin/tsc', ['-p', 'tsconfig.json', '--noEmit']],
    ['lint', 'node_modules/.bin/biome', ['ci', '--colors=off', '.']],
  ] as const) {
    const code = await new Promise<number>((resolve) => {
      spawn(join(root, cmd), args, { cwd: root, stdio: 'inherit' }).on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      console.error(`run-tests: ${label} failed; fix it before the tests run`);
      process.exit(code);
    }
    console.error(`run-tests: ${label} clean`);
  }
}
if (!values.tier && !values.only && !values['skip-static']) await staticChecks();

const needsCluster = files.some((f) => !relative(root, f).startsWith(join('test', 'unit')));
const env: NodeJS.ProcessEnv = { ...process.env };
let plane: LocalControlPlane | undefined;
if (needsCluster && !env['TUTTI_TEST_KUBECONFIG']) {
  plane = new LocalControlPlane(process.env['TUTTI_TEST_CLUSTER'] ?? 'tutti-test');
  const started = Date.now();
  try {
    env['TUTTI_TEST_KUBECONFIG'] = await plane.up({
      onProgress: (m) => console.error(`control plane: ${m}`),
    });
    env['TUTTI_TEST_CLUSTER'] = plane.name;
    console.error(`control plane: up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    // Cluster tests then fail one by one with this reason; unit tests still run.
    env['TUTTI_TEST_CLUSTER_ERROR'] = (err as Error).message;
    console.error(`control plane: failed to start: ${(err as Error).message}`);
  }
}

const stop = async () => {
  if (plane) await plane.down().catch((err) => console.error(`control plane: down failed: ${err.message}`));
};
let exitCode = 1;
try {
  exitCode = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        // A hung test fails with a timeout instead of hanging the run.
        `--test-timeout=${process.env['TUTTI_TEST_TIMEOUT_MS'] ?? 300_000}`,
        `--test-concurrency=${values.concurrency}`,
        ...files.map((f) => relative(root, f)),
      ],
      { cwd: root, env, stdio: 'inherit' },
    );
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('close', (code) => resolve(code ?? 1));
  });
} finally {
  await stop();
}
process.exit(exitCode);
