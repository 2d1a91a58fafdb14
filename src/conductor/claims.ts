import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/atomic-file.js';

export const CLAIMS_DIR = '.conductor-claims';

interface ClaimBody {
  owner: string;
  file: string;
  claimed_at: string;
}

/**
 * Claims on intent files, so that replicas sharing a handoff directory never work on the same
 * file version at once: a claim is a file created with O_EXCL (atomic on a local or NFSv4
 * volume). A live owner refreshes its claims' mtime; a claim not refreshed for `timeoutMs`
 * belongs to a crashed replica and may be taken over.
 */
export class ClaimRegistry {
  readonly owner: string;
  private readonly held = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly handoffDir: string,
    readonly timeoutMs: number,
    owner?: string,
  ) {
    // Unique per instance: two loops in one process must not release each other's claims.
    this.owner = owner ?? `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  }

  private get dir(): string {
    return join(this.handoffDir, CLAIMS_DIR);
  }

  private path(key: string): string {
    return join(this.dir, `${key}.claim`);
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Refresh well within the timeout, so a busy but live owner is never taken over.
    this.timer = setInterval(() => void this.refresh(), Math.max(100, this.timeoutMs / 3));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Tries to claim `key` (file name + content hash); true when this replica now holds it. */
  async acquire(key: string, file: string): Promise<boolean> {
    if (this.held.has(key)) return true;
    const body: ClaimBody = { owner: this.owner, file, claimed_at: new Date().toISOString() };
    try {
      const handle = await open(this.path(key), 'wx');
      await handle.writeFile(JSON.stringify(body));
      await handle.close();
      this.held.add(key);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return this.takeOver(key, body);
  }

  /**
   * Takes a stale claim: a takeover marker made with O_EXCL lets one replica through; it checks
   * staleness again under the marker, then rewrites the claim as its own.
   */
  private async takeOver(key: string, body: ClaimBody): Promise<boolean> {
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
      await writeFileAtomic(this.path(key), JSON.stringify(body));
      this.held.add(key);
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

  /** Releases a claim; only the owner's own claim is removed. */
  async release(key: string): Promise<void> {
    if (!this.held.delete(key)) return;
    const current = await readFile(this.path(key), 'utf8').catch(() => '');
    if (current.includes(JSON.stringify(this.owner))) await unlink(this.path(key)).catch(() => {});
  }

  holds(key: string): boolean {
    return this.held.has(key);
  }

  private async refresh(): Promise<void> {
    const now = new Date();
    await Promise.all([...this.held].map((key) => utimes(this.path(key), now, now).catch(() => {})));
  }
}
