import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/runtime/wait.js';

const TUTTI = fileURLToPath(new URL('../../bin/tutti.js', import.meta.url));

export interface RunningCommand {
  readonly child: ChildProcess;
  /** What `ready` matched in the output. */
  readonly ready: RegExpExecArray;
  /** Its stdout and stderr so far, interleaved. */
  output(): string;
  /**
   * Sends `signal` and resolves with the exit code once the process is gone; with `withinMs`,
   * fails (with the output) when it is still running that long after.
   */
  stop(signal?: NodeJS.Signals, withinMs?: number): Promise<number | null>;
}

/**
 * Starts a long-running `tutti` command and resolves once its output matches `ready`; fails at
 * once, with the output, when it exits before. Killed when the test ends if still running.
 */
export async function startTutti(
  t: TestContext,
  args: readonly string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<RunningCommand> {
  const child = spawn(process.execPath, [TUTTI, ...args], { env: { ...process.env, ...env } });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  let exited = false;
  child.once('exit', () => (exited = true));
  const match = await waitFor(() => exited || (ready.exec(output) ?? undefined), {
    description: `tutti ${args.join(' ')} to print ${ready}`,
    timeoutMs: 180_000,
    intervalMs: 100,
  });
  if (match === true) throw new Error(`tutti ${args.join(' ')} exited before it was ready:\n${output}`);
  return {
    child,
    ready: match,
    output: () => output,
    async stop(signal = 'SIGTERM', withinMs = Number.POSITIVE_INFINITY) {
      // Gone already (an earlier signal ended it): no exit event is left to wait for.
      if (exited) return child.exitCode;
      const exit = once(child, 'exit');
      child.kill(signal);
      await waitFor(() => exited, {
        description: `tutti ${args.join(' ')} to exit after ${signal}`,
        timeoutMs: withinMs,
        intervalMs: 50,
      }).catch((err: Error) => {
        throw new Error(`${err.message}; its output:\n${output}`);
      });
      return (await exit)[0] as number | null;
    },
  };
}
