import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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
 * Whether the process that wrote a lock holding `text` ("<pid> <start ticks>") still runs. The
 * start time tells the holder from a later process given the same pid, as after a reboot (the
 * state directory outlives it): without it such a lock would be waited on for ever.
 */
async function holderAlive(text: string): Promise<{ pid: number; alive: boolean }> {
  const [pid, ticks] = text
    .trim()
    .split(/\s+/)
    .map((n) => Number.parseInt(n, 10));
  if (pid === undefined || !Number.isFinite(pid) || !alive(pid)) return { pid: pid ?? 0, alive: false };
  if (ticks === undefined || !Number.isFinite(ticks)) return { pid, alive: true };
  const started = await startTicksOf(pid);
  return { pid, alive: started === undefined || started === ticks };
}

/**
 * Runs `work` while holding an exclusive lock file, so that two processes never build the same
 * binaries or start the same cluster at once. A lock whose holder died is taken over; while a
 * live holder keeps it, `onWait` hears so once.
 */
export async function withFileLock<T>(
  path: string,
  work: () => Promise<T>,
  onWait?: (message: string) => void,
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const self = `${process.pid} ${(await startTicksOf(process.pid)) ?? ''}`.trim();
  let told = false;
  for (;;) {
    try {
      await writeFile(path, self, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await holderAlive(await readFile(path, 'utf8').catch(() => ''));
      if (!holder.alive) {
        await rm(path, { force: true });
        continue;
      }
      if (!told) {
        onWait?.(`waiting for process ${holder.pid}, which holds ${path}`);
        told = true;
      }
      await delay(250);
    }
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}
