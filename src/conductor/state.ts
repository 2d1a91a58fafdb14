import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  type Stats,
  statSync,
} from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { writeFileAtomic } from '../runtime/atomic-file.js';

export const STATE_FILE = '.conductor-state.json';
const LOCK_FILE = '.conductor-state.lock';
/** A lock older than this was left by a crashed process: a state write takes milliseconds. */
const STALE_LOCK_MS = 10_000;
/**
 * Each write rewrites and syncs the whole file, so under a burst the records of many batches share
 * one: writes are at most every 50 ms, and as the file grows, rare enough to rewrite at most 4 MB
 * a second (100,000 records, about 20 MB, rewritten every 50 ms would be 400 MB/s of synced
 * writes). A record waits for the next write; its CR already exists and its claim is held.
 */
const STATE_WRITE_INTERVAL_MS = 50;
const STATE_WRITE_BYTES_PER_SECOND = 4 * 1024 * 1024;

export type FileOutcome = 'processed' | 'failed';

/** What happened to one version of one intent file. */
export interface FileRecord {
  sha256: string;
  size: number;
  processed_at: string;
  status: FileOutcome;
  /** `<namespace>/<name>` of the NetworkIntent, when one was created (or already existed). */
  cr_name?: string;
  error_file?: string;
}

interface StateDocument {
  version: 1;
  /** Random per write: a reader that knows it knows the whole file. */
  revision?: string;
  files: Record<string, FileRecord>;
}

/** The document: `{"version": 1, "revision": "…", "files": {name: record, …}}`, a record per line. */
const header = (revision: string) => `{\n "version": 1,\n "revision": "${revision}",\n "files": {\n`;
const FOOTER_BYTES = Buffer.from('\n }\n}\n');
/** Enough of the file's start to hold its revision. */
const HEAD_BYTES = 128;
const REVISION = /^\{\s*"version":\s*1,\s*"revision":\s*"([0-9a-f]+)"/;

/**
 * `.conductor-state.json`: the outcome of every intent file in the directory by name, so that a
 * file is processed again only when its content changes. Replicas sharing the directory merge their
 * records under a lock file; each write is atomic, so a crash leaves the previous state, never a
 * torn one. The records of files removed from the directory are dropped (`forget`).
 *
 * The file grows with every intent and is rewritten per batch, so a write reuses each record's
 * serialized line, and a reread that finds the revision last seen at the file's start reads no
 * further: the rereads after claims, one per batch, cost one small read however large the file.
 */
export class StateStore {
  private files = new Map<string, FileRecord>();
  private pending = new Map<string, FileRecord>();
  /** Names whose records the next write drops if their files are still gone then. */
  private forgetting = new Set<string>();
  private writing?: Promise<void>;
  /** The records of the write under way, until it lands. */
  private writingBatch?: Map<string, FileRecord>;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private lastWrite = 0;
  /** The size of the last write. */
  private lastBytes = 0;
  /**
   * The file as last read or written: its revision and records; `body`, the records' lines in
   * chunks, when we wrote it; `landing`, the revision of our write under way, whose records the map
   * already holds.
   */
  private cached?: {
    revision: string;
    files: Map<string, FileRecord>;
    /**
     * The file's identity when last read or written: a hand edit (an entry removed to retry a
     * file) keeps the revision line but changes this, and must be read, not overwritten.
     */
    identity?: string;
    body?: Buffer[];
    landing?: string;
  };
  /** Each record's line in the file, reused while the record is the same object. */
  private readonly lines = new WeakMap<FileRecord, string>();

  constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  /** Reads the state from disk; a missing file is an empty state, a corrupt one an error. */
  async load(): Promise<void> {
    this.files = this.readDisk();
  }

  /**
   * The record of `file` if it is final for this content: the file needs no more work. As of the
   * last read; call refresh() first to see another replica's writes (after a claim).
   */
  finished(file: string, sha256: string): FileRecord | undefined {
    const rec = this.pending.get(file) ?? this.files.get(file);
    return rec && rec.sha256 === sha256 ? rec : undefined;
  }

  /**
   * Rereads the file. Synchronous, as a claim is: one small read of the file's start while the
   * revision is the one last seen, where a trip through the I/O threads would cost ten times more.
   */
  refresh(): void {
    const files = this.readDisk();
    if (files === this.files) return;
    // Records of our own that are still being written must not be forgotten.
    this.files = new Map([...files, ...(this.writingBatch ?? [])]);
  }

  /** Records one outcome; resolves once it is on disk. Concurrent calls share one write. */
  record(file: string, rec: FileRecord): Promise<void> {
    return this.recordAll([[file, rec]]);
  }

  /** Records outcomes (a batch's) in one atomic write, shared with any concurrent callers. */
  recordAll(records: Iterable<[string, FileRecord]>): Promise<void> {
    for (const [file, rec] of records) this.pending.set(file, rec);
    return this.scheduleWrite();
  }

  /** The files this store holds a record of, as of the last read or write. */
  recorded(): string[] {
    return [...this.files.keys()];
  }

  /**
   * Drops the records of files removed from the directory, so that the state holds a record per
   * file present rather than per file ever processed. Each file is looked for again under the
   * lock: one put back meanwhile keeps its record. A file dropped again later is processed again.
   */
  forget(files: Iterable<string>): Promise<void> {
    for (const file of files) this.forgetting.add(file);
    return this.forgetting.size ? this.scheduleWrite() : Promise.resolve();
  }

  private scheduleWrite(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.writing) this.writing = this.flushLoop();
    return done;
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.size || this.forgetting.size) {
      const interval = Math.max(
        STATE_WRITE_INTERVAL_MS,
        (this.lastBytes * 1000) / STATE_WRITE_BYTES_PER_SECOND,
      );
      const wait = this.lastWrite + interval - performance.now();
      if (wait > 0) await delay(wait);
      this.lastWrite = performance.now();
      const batch = this.pending;
      const forgetting = this.forgetting;
      const waiters = this.waiters;
      this.pending = new Map();
      this.forgetting = new Set();
      this.waiters = [];
      this.writingBatch = batch;
      try {
        await this.withLock(async () => {
          const disk = this.readDisk();
          const gone = [...forgetting].filter(
            (file) => disk.has(file) && !batch.has(file) && !this.present(file),
          );
          if (!batch.size && !gone.length) {
            this.files = disk; // nothing to write: what was forgotten is already gone
            return;
          }
          const last = this.cached;
          // On top of our own last write (the usual case) the batch is appended, to the records'
          // map in place and to the document's chunks: the state grows with every intent, and
          // copying, joining and encoding all of it every 50 ms would cost more than the rest of
          // the loop.
          const own = last?.body !== undefined && last.files === disk;
          const appended = own && !gone.length && [...batch.keys()].every((file) => !disk.has(file));
          const body = appended ? this.appendTo(last.body!, batch) : undefined;
          const revision = randomBytes(8).toString('hex');
          const merged = own ? disk : new Map(disk);
          for (const file of gone) merged.delete(file);
          for (const [file, rec] of batch) merged.set(file, rec);
          // The cached map now holds the file's records, whichever revision a reader finds.
          if (own) last.landing = revision;
          const lines = body ?? [Buffer.from(this.serializeLines(merged))];
          const chunks = [Buffer.from(header(revision)), ...lines, FOOTER_BYTES];
          await writeFileAtomic(this.path, chunks);
          this.lastBytes = chunks.reduce((n, c) => n + c.length, 0);
          this.files = merged;
          // Under the lock no replica writes meanwhile: what is there now is our write.
          const identity = identityOf(statSync(this.path));
          this.cached = { revision, files: merged, identity, body: lines };
        });
        for (const w of waiters) w.resolve();
      } catch (err) {
        // A map appended to in place holds records the file may not: read the file afresh.
        if (this.cached?.landing) this.cached = undefined;
        // Keep the records for the next write; the caller learns this one failed.
        for (const [k, v] of batch) if (!this.pending.has(k)) this.pending.set(k, v);
        for (const file of forgetting) this.forgetting.add(file);
        for (const w of waiters) w.reject(err as Error);
        break;
      } finally {
        this.writingBatch = undefined;
      }
    }
    this.writing = undefined;
  }

  /** Whether `file` is in the directory (a dangling symlink counts: its record says it was refused). */
  private present(file: string): boolean {
    return lstatSync(join(this.dir, file), { throwIfNoEntry: false }) !== undefined;
  }

  /** The chunks of the document's records with the lines of `batch` added. */
  private appendTo(body: readonly Buffer[], batch: Map<string, FileRecord>): Buffer[] {
    const added = this.serializeLines(batch);
    const empty = body.every((chunk) => chunk.length === 0);
    return withChunk(body, Buffer.from(empty ? added : `,\n${added}`));
  }

  private serializeLines(files: Map<string, FileRecord>): string {
    const lines: string[] = [];
    for (const [file, rec] of files) {
      let line = this.lines.get(rec);
      if (line === undefined) {
        line = `  ${JSON.stringify(file)}: ${JSON.stringify(rec)}`;
        this.lines.set(rec, line);
      }
      lines.push(line);
    }
    return lines.join(',\n');
  }

  /**
   * The records on disk; the cached map itself when the file's revision is the one last seen. The
   * file is replaced by rename, never changed in place, so what one open reads is one revision.
   */
  private readDisk(): Map<string, FileRecord> {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    let bytes: Buffer;
    let readIdentity: string;
    try {
      const c = this.cached;
      const identity = identityOf(fstatSync(fd));
      if (c) {
        const head = Buffer.allocUnsafe(HEAD_BYTES);
        const read = readSync(fd, head, 0, HEAD_BYTES, 0);
        const revision = REVISION.exec(head.toString('utf8', 0, read))?.[1];
        // Our write under way has landed: its records are in the map already.
        if (revision !== undefined && revision === c.landing) return c.files;
        if (revision === c.revision && identity === c.identity) return c.files;
      }
      bytes = readFileSync(fd);
      readIdentity = identity;
    } finally {
      closeSync(fd);
    }
    let doc: StateDocument;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as StateDocument;
    } catch (err) {
      throw new Error(
        `${this.path} is not valid JSON (${(err as Error).message}); move it aside to start afresh`,
      );
    }
    const files = new Map(Object.entries(doc.files ?? {}));
    // A file without a revision (written by hand, or by an older loop) is read whole every time.
    this.cached = doc.revision ? { revision: doc.revision, files, identity: readIdentity } : undefined;
    return files;
  }

  /** An exclusive lock between replicas: O_EXCL creation of the lock file. */
  private async withLock(fn: () => Promise<void>): Promise<void> {
    const lock = join(this.dir, LOCK_FILE);
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(lock, 'wx');
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS) await unlink(lock).catch(() => {});
        else await delay(Math.min(2 + attempt, 20));
      }
    }
    try {
      await fn();
    } finally {
      await unlink(lock).catch(() => {});
    }
  }
}

/** What tells one version of the state file from another besides its revision line. */
function identityOf(info: Stats): string {
  return `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
}

/**
 * `chunks` with `chunk` added at the end, merging each chunk into the one before it when that one
 * is no larger: sizes then shrink towards the end, so there are O(log n) chunks and each byte is
 * copied O(log n) times in all, where one buffer per write would copy the whole state every time.
 */
function withChunk(chunks: readonly Buffer[], chunk: Buffer): Buffer[] {
  const out = [...chunks, chunk];
  while (out.length >= 2 && out[out.length - 2]!.length <= out[out.length - 1]!.length) {
    const tail = out.pop()!;
    out.push(Buffer.concat([out.pop()!, tail]));
  }
  return out;
}
