import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const CLAIMS_DIR = '.conductor-claims';
const OWNER_PREFIX = '.owner-';

/**
 * Claims on intent files, so that replicas sharing a handoff directory never work on the same
 * file version at once. Each replica writes one owner file; a claim is a hard link to it under the
 * file version's name, made with link(2), which fails if the name exists (atomic on a local or NFS
 * volume). A link costs one call and no new inode, and all of a replica's claims share its owner
 * file's mtime: refreshing that one file keeps them all alive, and when the replica dies they go
 * stale together. A claim not refreshed for `timeoutMs` belongs to a crashed replica and may be
 * taken over.
 *
 * A claim and its release are synchronous calls, as intent files are read: one system call each,
 * where a trip through the I/O threads costs ten times the CPU.
 */
export class ClaimRegistry {
  readonly owner: string;
  /**
   * Held claims, by key, with the owner file's mtime as last known to carry them without a gap:
   * a claim whose time is less than a timeout old cannot have been taken over.
   */
  private readonly held = new Map<string, number>();
  private ownerIno?: number;
  /** When the owner file's mtime was last set (a lower bound: set before the call). */
  private touchedAt = 0;
  private timer?: NodeJS.Timeout;
  private readonly dir: string;
  private readonly ownerFile: string;

  constructor(
    handoffDir: string,
    readonly timeoutMs: number,
    owner?: string,
  ) {
    // Unique per instance: two loops in one process must not release each other's claims.
    this.owner = owner ?? `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
    this.dir = join(handoffDir, CLAIMS_DIR);
    this.ownerFile = join(this.dir, `${OWNER_PREFIX}${this.owner.replaceAll('/', '_')}`);
  }

  /** A claim's path, built without join(): one is made per intent file. */
  private path(key: string): string {
    return `${this.dir}/${key}.claim`;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.removeDeadOwners();
    await this.writeOwner();
    // Refresh well within the timeout, so a busy but live owner is never taken over.
    this.timer = setInterval(() => void this.refresh(), Math.max(100, this.timeoutMs / 3));
    this.timer.unref();
  }

  /** (Re)creates the owner file the claims link to. */
  private async writeOwner(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const now = new Date();
    const body = { owner: this.owner, started_at: now.toISOString() };
    await writeFile(this.ownerFile, `${JSON.stringify(body)}\n`);
    this.touchedAt = now.getTime();
    this.ownerIno = (await stat(this.ownerFile)).ino;
  }

  /** Stops refreshing; claims still held go stale after the timeout, as a crashed replica's do. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.held.size === 0) await unlink(this.ownerFile).catch(() => {});
  }

  /** Tries to claim `key` (file name + content hash); true when this replica now holds it. */
  async acquire(key: string, retried = false): Promise<boolean> {
    if (this.held.has(key)) return true;
    // A link carries the owner file's mtime, not the time of the link.
    const now = this.touchedAt;
    try {
      linkSync(this.ownerFile, this.path(key));
      this.held.set(key, now);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // The owner file (or the claims directory) was removed behind our back: make it again.
      if (code === 'ENOENT' && !retried) {
        await this.writeOwner();
        return this.acquire(key, true);
      }
      if (code !== 'EEXIST') throw err;
    }
    return this.takeOver(key, now);
  }

  /** Who holds `key`'s claim, as its owner file names it; undefined when that cannot be read. */
  holder(key: string): string | undefined {
    try {
      // A claim is a link to its owner's file, which names the owner.
      return (JSON.parse(readFileSync(this.path(key), 'utf8')) as { owner?: string }).owner;
    } catch {
      return undefined;
    }
  }

  /**
   * Takes a stale claim: a takeover marker made with O_EXCL lets one replica through; it checks
   * staleness again under the marker, then renames a link of its own over the claim.
   */
  private async takeOver(key: string, now: number): Promise<boolean> {
    if (!(await this.isStale(this.path(key)))) return false;
    const marker = `${this.path(key)}.takeover`;
    try {
      await (await open(marker, 'wx')).close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A marker left by a replica that crashed mid-takeover goes the same way as a stale claim.
      if (await this.isStale(marker)) await unlink(marker).catch(() => {});
      return false;
    }
    try {
      if (!(await this.isStale(this.path(key)))) return false;
      const temp = `${this.path(key)}.${randomBytes(4).toString('hex')}.tmp`;
      await link(this.ownerFile, temp);
      await rename(temp, this.path(key));
      this.held.set(key, now);
      return true;
    } finally {
      await unlink(marker).catch(() => {});
    }
  }

  private async isStale(path: string): Promise<boolean> {
    try {
      return Date.now() - (await stat(path)).mtimeMs > this.timeoutMs;
    } catch (err) {
      // Released between our attempt and now: free for the next scan, not for a takeover.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Releases a claim; only this replica's own link is removed. One refreshed without a gap less
   * than half a timeout ago cannot have been taken over, so only older ones are checked first.
   */
  async release(key: string): Promise<void> {
    const touched = this.held.get(key);
    if (touched === undefined) return;
    this.held.delete(key);
    if (Date.now() - touched >= this.timeoutMs / 2) {
      const current = await stat(this.path(key)).catch(() => undefined);
      if (current?.ino !== this.ownerIno) return;
    }
    try {
      unlinkSync(this.path(key));
    } catch {}
  }

  private async refresh(): Promise<void> {
    const now = new Date();
    try {
      await utimes(this.ownerFile, now, now);
    } catch {
      return; // the next tick tries again
    }
    this.touchedAt = now.getTime();
    // After a gap of a timeout (a paused process) a claim may have been taken over: it keeps its
    // old time, so that its release checks whose link it is.
    for (const [key, touched] of this.held)
      if (this.touchedAt - touched < this.timeoutMs) this.held.set(key, this.touchedAt);
  }

  /** Owner files of replicas that died holding nothing: stale and linked from no claim. */
  private async removeDeadOwners(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(OWNER_PREFIX)) continue;
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && info.nlink === 1 && Date.now() - info.mtimeMs > this.timeoutMs)
        await unlink(path).catch(() => {});
    }
  }
}
