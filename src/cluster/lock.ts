import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/** The holder's file in a lock directory: its name is the holder's alone. */
const HOLDER_FILE = /^holder\./;

/** Error codes of a claim that found the lock taken (a directory with a holder, or a lock file). */
const TAKEN = new Set(['ENOTEMPTY', 'EEXIST', 'ENOTDIR']);

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * The file that says who holds the lock at `path`, and what it says; none while the lock is free
 * or emptied. A file at `path` itself is a lock an earlier Tutti took.
 */
async function holderOf(path: string): Promise<{ file: string; text: string } | undefined> {
  let file: string;
  try {
    const names = await readdir(path);
    const name = names.find((n) => HOLDER_FILE.test(n));
    // Anything else in it would keep every claim failing, the lock never freed.
    if (name === undefined && names.length > 0) {
      throw new Error(`${path} is no lock of Tutti's (it holds ${names.join(', ')}): remove it`);
    }
    if (name === undefined) return undefined;
    file = join(path, name);
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    if (code(err) !== 'ENOTDIR') throw err;
    file = path;
  }
  try {
    return { file, text: await readFile(file, 'utf8') };
  } catch (err) {
    // Released or replaced since: a look again tells.
    if (code(err) === 'ENOENT' || code(err) === 'EISDIR' || code(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

export interface FileLockOptions {
  /** Hears once, while a live holder keeps the lock, who holds it, since when and for what. */
  onWait?: (message: string) => void;
  /** What the holder does, e.g. "building etcd": written into the lock for those who wait on it. */
  purpose?: string;
  /** Aborting it (Ctrl-C) ends the wait for a live holder, with its reason. */
  signal?: AbortSignal;
}

/**
 * Runs `work` while holding an exclusive lock, so that two processes never build the same
 * binaries or start the same cluster at once. A lock whose holder died is taken over; while a
 * live holder keeps it, `onWait` hears so once.
 *
 * The lock is a directory at `path` holding one file named for its holder alone, which says who
 * it is ("<pid> <start ticks>") and what it does. It is taken by renaming a directory made aside,
 * the holder's file already in it, onto `path`: the kernel lets that happen only while nothing,
 * or an empty directory, is there, so one contender alone wins. A dead holder's lock is taken
 * over by removing its file, then claiming the emptied directory as any other: a contender that
 * judged the same holder dead and comes late removes nothing (that file is gone, and the new
 * holder's has another name), so it cannot remove the lock of the one that took it over, as
 * removing the whole lock once did, letting two hold it.
 */
export async function withFileLock<T>(
  path: string,
  work: () => Promise<T>,
  { onWait, purpose, signal }: FileLockOptions = {},
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const self = `${process.pid} ${(await startTicksOf(process.pid)) ?? ''}`.trim();
  const unique = `${process.pid}.${Math.random().toString(36).slice(2)}`;
  const draft = `${path}.${unique}`;
  const mine = `holder.${unique}`;
  await mkdir(draft);
  let told = false;
  try {
    await writeFile(join(draft, mine), purpose ? `${self}\n${purpose}\n` : self);
    for (;;) {
      signal?.throwIfAborted();
      try {
        await rename(draft, path);
        break;
      } catch (err) {
        if (!TAKEN.has(code(err) ?? '')) throw err;
      }
      const held = await holderOf(path);
      // Released or emptied since: claim it again.
      if (held === undefined) continue;
      const holder = await holderAlive(held.text);
      if (!holder.alive) {
        // Unlinking never removes a directory: an earlier Tutti's lock file, replaced meanwhile
        // by a lock directory, stays.
        await unlink(held.file).catch((err) => {
          if (code(err) !== 'ENOENT' && !(held.file === path && code(err) === 'EISDIR')) throw err;
        });
        continue;
      }
      if (!told) {
        const taken = await stat(held.file).then(
          (s) => ` since ${since(s.mtime)}`,
          () => '',
        );
        const doing = held.text.split('\n')[1]?.trim();
        onWait?.(
          `waiting for process ${holder.pid}, which holds ${path}${taken}${doing ? `: ${doing}` : ''}`,
        );
        told = true;
      }
      await delay(250, undefined, { signal }).catch((err) => {
        throw signal?.reason ?? err;
      });
    }
  } catch (err) {
    await rm(draft, { recursive: true, force: true });
    throw err;
  }
  try {
    return await work();
  } finally {
    await unlink(join(path, mine)).catch((err) => {
      if (code(err) !== 'ENOENT') throw err;
    });
    // Whoever claims the emptied lock meanwhile keeps it: a directory with a holder is no empty one.
    await rmdir(path).catch((err) => {
      if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(code(err) ?? '')) throw err;
    });
  }
}
