import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnectionOrigin } from '../runtime/client/connection.js';

/** What the process-exit hook needs to tear a sandbox down from a fresh process. */
export interface OpenSandbox {
  readonly jobName: string;
  readonly namespace: string;
  readonly origin: ConnectionOrigin;
  teardown(): Promise<void>;
}

const open = new Set<OpenSandbox>();
let hooked = false;

/**
 * Tracks sandboxes until they are torn down, so that none outlives its process: when the event
 * loop empties they are torn down in-process; on `process.exit()` or a fatal signal (where no
 * more async work can run) a detached reaper process deletes their Jobs.
 */
export function trackOpenSandbox(sandbox: OpenSandbox): void {
  open.add(sandbox);
  if (!hooked) hook();
}

export function untrackSandbox(sandbox: OpenSandbox): void {
  open.delete(sandbox);
}

export function openSandboxCount(): number {
  return open.size;
}

function hook(): void {
  hooked = true;
  process.on('beforeExit', () => {
    if (open.size === 0) return;
    // Pending teardowns keep the loop alive; beforeExit fires again once they are done.
    for (const s of [...open]) {
      open.delete(s);
      s.teardown().catch(() => reap([s]));
    }
  });
  process.on('exit', () => {
    if (open.size > 0) reap([...open]);
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, function onSignal() {
      // Only stand in for the default action (exit) when nobody else handles the signal.
      if (process.listeners(signal).some((l) => l !== onSignal)) return;
      process.exitCode = 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[signal];
      process.exit();
    });
  }
}

function reap(sandboxes: OpenSandbox[]): void {
  const jobs = sandboxes.map((s) => ({ name: s.jobName, namespace: s.namespace, ...s.origin }));
  const script = fileURLToPath(
    new URL(`./reaper${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  try {
    // execArgv carries the TypeScript loader when the parent runs from source.
    spawn(process.execPath, [...process.execArgv, script, JSON.stringify(jobs)], {
      detached: true,
      stdio: 'ignore',
      env: process.env,
    }).unref();
  } catch {
    // Nothing more can be done at exit; activeDeadlineSeconds ends the Jobs eventually.
  }
}
