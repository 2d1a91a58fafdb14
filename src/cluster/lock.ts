import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startTicksOf } from './processes.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process that wrote a lock holding `text` ("<pid> <start ticks>" on its first line)
 * still runs. The start time tells the holder from a later process given the same pid, as after a
 * reboot (the state directory outlives it): without it such a lock would be waited on for ever.
 */
async function holderAlive(text: string): Promise<{ pid: number; alive: boolean }> {
  const [pid, ticks] = (text.split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .map((n) => Number.parseInt(n, 10));
  if (pid === undefined || !Number.isFinite(pid) || !alive(pid)) return { pid: pid ?? 0, alive: false };
  if (ticks === undefined || !Number.isFinite(ticks)) return { pid, alive: true };
  const started = await startTicksOf(pid);
  return { pid, alive: started === undefined || started === ticks };
}

/** "12:04:31 (3 min ago)": when a lock was taken, in the waiting user's local time. */
function since(taken: Date, now = new Date()): string {
  const clock = taken.toTimeString().slice(0, 8);
  const minutes = Math.floor((now.getTime() - taken.getTime()) / 60_000);
  return `${clock} (${minutes < 1 ? 'less than a minute' : `${minutes} min`} ago)`;
}

export interface FileLockOptions {
  /** Hears once, while a live holder keeps the lock, who holds it, since when and for what. */
  onWait?: (message: string) => void;
  /** What the holder does, e.g. "building etcd": written into the lock for those who wait on it. */
  purpose?: string;
}

/**
 * Runs `work` while holding an exclusive lock file, so that two processes never build the same
 * binaries or start the same cluster at once. A lock whose holder died is taken over; while a
 * live holder keeps it, `onWait` hears so once.
 */
export async function withFileLock<T>(
  path: string,
  work: () => Promise<T>,
  { onWait, purpose }: FileLockOptions = {},
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const self = `${process.pid} ${(await startTicksOf(process.pid)) ?? ''}`.trim();
  let told = false;
  // The lock appears with its holder already in it (linked from a file written first): one made
  // empty and written after would look, to a contender reading in between, like a dead holder's.
  const draft = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  for (;;) {
    try {
      await writeFile(draft, purpose ? `${self}\n${purpose}\n` : self);
      await link(draft, path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(draft, { force: true });
    }
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) =>
      e.code === 'ENOENT' ? undefined : '',
    );
    // Released since: removing it now could remove the lock of whoever took it meanwhile.
    if (text === undefined) continue;
    const holder = await holderAlive(text);
    if (!holder.alive) {
      await rm(path, { force: true });
      continue;
    }
    if (!told) {
      const taken = await stat(path).then(
        (s) => ` since ${since(s.mtime)}`,
        () => '',
      );
      const doing = text.split('\n')[1]?.trim();
      onWait?.(`waiting for process ${holder.pid}, which holds ${path}${taken}${doing ? `: ${doing}` : ''}`);
      told = true;
    }
    await delay(250);
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}
