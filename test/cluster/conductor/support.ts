import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { ConductorLoop, type ConductorLoopOptions } from '../../../src/conductor/loop.js';
import { IntentValidator } from '../../../src/conductor/schema.js';
import { type FileRecord, STATE_FILE } from '../../../src/conductor/state.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { componentLogger, type Logger } from '../../../src/runtime/log.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** A Deployment of one container; nothing runs its Pods, the tests read and scale its spec. */
export async function createDeployment(
  client: KubeClient,
  ns: string,
  name: string,
  replicas = 1,
): Promise<void> {
  await client.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
      },
    },
  });
}

export async function handoffDir(t: TestContext): Promise<{ dir: string; errors: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'handoff-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { dir, errors: join(dir, 'errors') };
}

export function intent(namespace: string, target: string, extra: Record<string, unknown> = {}) {
  return { intent_type: 'scaling', target, namespace, replicas: 3, source: 'test', ...extra };
}

/**
 * Drops a file as a careful producer does, written aside and renamed in: the loop never sees it
 * half-written (an in-place rewrite is briefly empty, which a loaded machine can stretch past any
 * debounce, and an empty intent file is an error).
 */
export async function dropIntent(dir: string, file: string, doc: unknown): Promise<string> {
  const path = join(dir, file);
  const temp = join(dir, `.${file}.tmp`);
  await writeFile(temp, typeof doc === 'string' || Buffer.isBuffer(doc) ? doc : JSON.stringify(doc, null, 2));
  await rename(temp, path);
  return path;
}

export async function readState(dir: string): Promise<Record<string, FileRecord>> {
  try {
    return (
      JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { files: Record<string, FileRecord> }
    ).files;
  } catch {
    return {};
  }
}

export interface ErrorReport {
  file: string;
  reason: string;
  message: string;
  errors?: string[];
  status?: { reason?: string; message?: string; code?: number };
  forbidden?: { verb: string; resource: string; identity: string; namespace: string };
}

export async function errorReports(errorDir: string): Promise<Map<string, ErrorReport>> {
  const out = new Map<string, ErrorReport>();
  for (const name of await readdir(errorDir).catch(() => [] as string[])) {
    if (!name.endsWith('.error')) continue;
    const report = JSON.parse(await readFile(join(errorDir, name), 'utf8')) as ErrorReport;
    out.set(name.replace(/\.\d{8}T[\d.]+Z\.error$/, ''), report);
  }
  return out;
}

/** A loop in this process, stopped when the test ends. */
export async function startLoop(
  t: TestContext,
  client: KubeClient,
  dirs: { dir: string; errors: string },
  overrides: Partial<ConductorLoopOptions> = {},
): Promise<ConductorLoop> {
  const loop = new ConductorLoop({
    handoffDir: dirs.dir,
    errorDir: dirs.errors,
    validator: IntentValidator.load(),
    client,
    batchSize: 10,
    batchIntervalMs: 50,
    porchMode: 'structured',
    workers: 2,
    debounceMs: 20,
    periodMs: 0,
    claimTimeoutMs: 5_000,
    logger: componentLogger('conductor-loop-test'),
    ...overrides,
  });
  await loop.start();
  t.after(() => loop.stop());
  return loop;
}

/** `conductor-loop` as its own process, as it is deployed; its JSON log records are collected. */
export class LoopProcess {
  readonly records: Record<string, unknown>[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private partial = '';

  /** `env` configures the loop through its environment variables instead of flags. */
  constructor(kubeconfig: string, args: string[], env?: Record<string, string>) {
    const flags = env ? args : ['--metrics-port=0', ...args];
    this.child = spawn(process.execPath, [join(ROOT, 'bin/conductor-loop.js'), ...flags], {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: kubeconfig, TUTTI_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.records.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.records.push({ msg: line });
        }
      }
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  messages(prefix: string): string[] {
    return this.records.map((r) => String(r['msg'])).filter((m) => m.startsWith(prefix));
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function loopProcess(
  t: TestContext,
  kubeconfig: string,
  args: string[],
  env?: Record<string, string>,
): LoopProcess {
  const p = new LoopProcess(kubeconfig, args, env);
  t.after(() => p.stop('SIGKILL'));
  return p;
}

/** A logger whose records are kept, for a test to wait on what an in-process loop says. */
export function capturingLogger(): { logger: Logger; messages(prefix: string): string[] } {
  const records: { msg?: string }[] = [];
  const logger = pino(
    { level: 'info', base: undefined },
    { write: (line: string) => void records.push(JSON.parse(line) as { msg?: string }) },
  );
  return {
    logger,
    messages: (prefix) => records.map((r) => String(r.msg)).filter((m) => m.startsWith(prefix)),
  };
}
