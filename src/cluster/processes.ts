import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

/** A component process started detached, so that it outlives the command that started it. */
export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): guards against pid reuse. */
  readonly startTicks: number;
  readonly binary: string;
  readonly args: readonly string[];
  readonly log: string;
}

async function procStat(pid: number): Promise<{ state: string; startTicks: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** When process `pid` started (clock ticks since boot), or undefined when there is no such process. */
export async function startTicksOf(pid: number): Promise<number | undefined> {
  return (await procStat(pid))?.startTicks;
}

export async function isRunning(rec: ProcessRecord): Promise<boolean> {
  const stat = await procStat(rec.pid);
  return !!stat && stat.startTicks === rec.startTicks && stat.state !== 'Z' && stat.state !== 'X';
}

export async function startDetached(
  name: string,
  binary: string,
  args: readonly string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcessRecord> {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], env });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start ${name} (${binary}): ${err.message}`)));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    const stat = await procStat(pid);
    if (!stat) throw new Error(`${name} exited at once; see ${log}`);
    return { name, pid, startTicks: stat.startTicks, binary, args, log };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(rec: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!(await isRunning(rec))) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(rec.pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (await isRunning(rec)) {
    if (Date.now() > deadline) {
      signal('SIGKILL');
      if (Date.now() > deadline + 5_000)
        throw new Error(`${rec.name} (pid ${rec.pid}) did not exit after SIGKILL`);
    }
    await delay(50);
  }
}

/** Stops a process with SIGKILL and no grace: the way a crash looks to its peers. */
export async function killProcess(rec: ProcessRecord): Promise<void> {
  await stopProcess(rec, 0);
}
