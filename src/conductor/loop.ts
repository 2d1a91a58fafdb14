import { createHash } from 'node:crypto';
import { type FSWatcher, lstatSync, watch } from 'node:fs';
import { lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import type { NetworkIntent } from '../apis/intent.nephoran.com/network-intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { componentLogger, type Logger } from '../runtime/log.js';
import { BatchCoordinator, WorkerPool } from './batch.js';
import { ClaimRegistry } from './claims.js';
import { writeErrorFile } from './error-files.js';
import {
  type FileVersion,
  INTENT_FILE_PATTERN,
  MAX_INTENT_FILE_BYTES,
  parseIntentJson,
  type ReadResult,
  readIntentFile,
  sameVersion,
} from './intake.js';
import { type Intent, toNetworkIntent } from './intent.js';
import { conductorMetrics as metrics } from './metrics.js';
import type { IntentValidator } from './schema.js';
import { type FileRecord, StateStore } from './state.js';
import { type SubmitResult, submitNetworkIntent } from './submit.js';

export type PorchMode = 'structured' | 'direct';

export interface ConductorLoopOptions {
  handoffDir: string;
  errorDir: string;
  validator: IntentValidator;
  client: KubeClient;
  batchSize: number;
  batchIntervalMs: number;
  porchMode: PorchMode;
  workers: number;
  debounceMs: number;
  /** Rescan the directory this often (0: rely on file events, with a rescan every claim timeout). */
  periodMs: number;
  /** Also write each intent as KRM YAML here. */
  outDir?: string;
  /** A claim not refreshed for this long belongs to a crashed replica. */
  claimTimeoutMs: number;
  maxFileBytes?: number;
  /** How long SIGTERM waits for in-flight submissions before leaving them to the next start. */
  shutdownGraceMs?: number;
  logger?: Logger;
}

/** What a `--once` run did; its exit code follows from it (see exitCode). */
export interface RunSummary {
  processed: number;
  failed: number;
  /** Accepted intents not submitted yet (API server unreachable, no namespace or CRD); tried on the next run. */
  unsubmitted: number;
  /** Files claimed by another loop (a live replica, or a killed run whose claims are not stale yet). */
  held: number;
  /** Files not read because the run was stopped (SIGTERM, SIGINT). */
  unread: number;
  skipped: number;
}

/**
 * `--once` exit codes: 0 all done, 1 some files failed (error files written), 3 some files are not
 * submitted yet (intents waiting to be submitted, files another loop holds, or left unread by a stop).
 */
export function exitCode(summary: RunSummary): number {
  if (summary.unsubmitted > 0 || summary.held > 0 || summary.unread > 0) return 3;
  if (summary.failed > 0) return 1;
  return 0;
}

/** Files handled (checked, read, hashed, judged) at once. */
const READ_CONCURRENCY = 16;
/** Due files read per turn of the event loop (see drainDue). */
const READS_PER_TURN = 16;
/** Accepted intents waiting for a worker, per worker, beyond which reading waits (see drainDue). */
const READ_AHEAD_PER_WORKER = 4;

/** The delay before an intent that exhausted its retries is tried again, when --period is 0. */
export const DEFAULT_RETRY_DELAY_MS = 5_000;

interface AcceptedIntent {
  file: string;
  path: string;
  key: string;
  sha256: string;
  size: number;
  intent: Intent;
  ni: NetworkIntent;
  seenAt: number;
  /** Counted in conductor_files_seen_total: an intent retried after an outage is one file seen. */
  counted?: boolean;
}

interface KnownVersion extends FileVersion {
  sha256: string;
}

/**
 * The intake pipeline: watch `intent-*.json` → debounce → size limit → parse → validate → batch
 * → worker pool → submit → state. Every accepted intent is either submitted, written to an error
 * file, or left for a later attempt; a file version is processed once across restarts and replicas.
 */
export class ConductorLoop {
  private readonly log: Logger;
  private readonly state: StateStore;
  private readonly claims: ClaimRegistry;
  /** Submissions: `workers` API calls in flight, no more. */
  private readonly pool: WorkerPool;
  /**
   * Files handled at once. Reads are synchronous, but a rescan's checks of files seen before
   * (lstat) and a refused file's claim and record go through the I/O threads the state writes need.
   */
  private readonly reads = new WorkerPool(READ_CONCURRENCY);
  /** Batches between their first submission and their state write. */
  private readonly batchesRunning = new Set<Promise<void>>();
  private readonly batches: BatchCoordinator<AcceptedIntent>;
  private readonly debounces = new Map<string, NodeJS.Timeout>();
  /** Files waiting for their turn to be read, in order; true once known to be quiet. */
  private readonly due = new Map<string, boolean>();
  private draining = false;
  private readonly firstSeen = new Map<string, number>();
  private readonly known = new Map<string, KnownVersion>();
  private readonly inFlight = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private watcher?: FSWatcher;
  private watchedIno?: number;
  private rewatching?: Promise<boolean>;
  private rescanTimer?: NodeJS.Timeout;
  private closing = false;
  private started = false;
  readonly summary: RunSummary = { processed: 0, failed: 0, unsubmitted: 0, held: 0, unread: 0, skipped: 0 };

  constructor(private readonly opts: ConductorLoopOptions) {
    this.log = opts.logger ?? componentLogger('conductor-loop');
    this.state = new StateStore(opts.handoffDir);
    this.claims = new ClaimRegistry(opts.handoffDir, opts.claimTimeoutMs);
    this.pool = new WorkerPool(opts.workers);
    this.batches = new BatchCoordinator(opts.batchSize, opts.batchIntervalMs, (batch) =>
      this.dispatch(batch),
    );
  }

  get ready(): boolean {
    return this.started && !this.closing;
  }

  private async prepare(): Promise<void> {
    await makeDir(this.opts.handoffDir, '--handoff-dir');
    await makeDir(this.opts.errorDir, '--error-dir');
    if (this.opts.outDir) await makeDir(this.opts.outDir, '--out');
    await this.state.load();
    await this.claims.start();
  }

  /** Watches the directory until stop(); files already there are processed first. */
  async start(): Promise<void> {
    await this.prepare();
    await this.watchDir();
    if (this.closing) return; // stopped while starting
    // Rescans catch what events miss and take over a crashed replica's files after its claims expire.
    const every = this.opts.periodMs > 0 ? this.opts.periodMs : this.opts.claimTimeoutMs;
    this.rescanTimer = setInterval(() => void this.scan(), every);
    await this.scan();
    this.started = true;
  }

  /**
   * Watches the handoff directory, anew when it was deleted or replaced (made again, remounted):
   * a watch follows the directory it began on, not its path, and would otherwise go quiet until
   * the next rescan. True when a new watch began on a directory other than the first.
   */
  private watchDir(force = false): Promise<boolean> {
    this.rewatching ??= this.rewatch(force).finally(() => {
      this.rewatching = undefined;
    });
    return this.rewatching;
  }

  private async checkDir(): Promise<void> {
    try {
      if (await this.watchDir(true)) await this.scan();
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        'cannot watch the handoff directory; relying on rescans',
      );
    }
  }

  private async rewatch(force: boolean): Promise<boolean> {
    const dir = this.opts.handoffDir;
    let ino = await stat(dir).then(
      (s) => s.ino,
      () => undefined,
    );
    if (ino === undefined) {
      await makeDir(dir, '--handoff-dir');
      await makeDir(this.opts.errorDir, '--error-dir');
      ino = (await stat(dir)).ino;
      this.log.warn({ dir }, `${dir} was gone; made it again`);
    }
    if (this.closing || (this.watcher && !force && ino === this.watchedIno)) return false;
    const replaced = this.watcher !== undefined;
    this.watcher?.close();
    this.watcher = watch(dir, { persistent: true }, (event, name) => {
      if (name && INTENT_FILE_PATTERN.test(name)) this.schedule(name);
      // The directory itself deleted or moved away shows as a rename of its own name: that watch
      // is over. (Its inode alone cannot tell: a directory made again may get the same one.)
      else if (event === 'rename' && name === basename(dir)) void this.checkDir();
    });
    this.watcher.on('error', (err) =>
      this.log.error({ err: err.message }, 'watch failed; relying on rescans'),
    );
    this.watchedIno = ino;
    if (replaced) this.log.warn({ dir }, `${dir} was replaced; watching the new one`);
    return replaced;
  }

  /** Processes what is in the directory now, waits for every submission, and reports. */
  async runOnce(): Promise<RunSummary> {
    await this.prepare();
    this.started = true;
    const names = await this.listIntentFiles();
    const forgotten = this.forgetRemoved(names);
    await Promise.all(
      names.map((name) =>
        this.reads
          .run(() => this.handle(name, Date.now()))
          .catch((err: Error) => {
            // One file the system refuses must not end the run for the others; the next run retries it.
            this.summary.failed++;
            this.log.error(
              { file: name, err: err.message },
              `failed to process ${join(this.opts.handoffDir, name)}: ${err.message}`,
            );
          }),
      ),
    );
    this.batches.flush();
    await this.batchesDone();
    await forgotten;
    await this.claims.stop();
    return this.summary;
  }

  /** Stops intake, hands waiting intents to the pool, and waits (up to the grace) for them. */
  async stop(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.watcher?.close();
    clearInterval(this.rescanTimer);
    for (const t of this.debounces.values()) clearTimeout(t);
    this.debounces.clear();
    // Files not read yet are not claimed either: the next start (or the other replica) reads them.
    this.due.clear();
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.batches.flush();
    const grace = this.opts.shutdownGraceMs ?? 10_000;
    const timer = setTimeout(() => this.abort.abort(), grace);
    await this.batchesDone();
    clearTimeout(timer);
    // Intents waiting for a retry are left unrecorded: the next start (or the other replica) takes them.
    for (const key of this.retryTimers.keys()) await this.claims.release(key);
    this.retryTimers.clear();
    await this.claims.stop();
    this.log.info('conductor-loop stopped');
  }

  private async listIntentFiles(): Promise<string[]> {
    return (await readdir(this.opts.handoffDir)).filter((n) => INTENT_FILE_PATTERN.test(n)).sort();
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      await this.watchDir();
      names = await this.listIntentFiles();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `cannot list ${this.opts.handoffDir}`);
      return;
    }
    try {
      // A record removed by hand (to retry a failed file unchanged) is honoured from this rescan on.
      this.state.refresh();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `cannot read ${this.state.path}`);
    }
    for (const name of names) this.schedule(name, true);
    this.forgetRemoved(names).catch((err: Error) =>
      this.log.error({ err: err.message }, `cannot write ${this.state.path}`),
    );
  }

  /**
   * What is known of files no longer in the directory goes, from memory and from the state file:
   * both then grow with the directory, not with every file it ever held.
   */
  private forgetRemoved(present: readonly string[]): Promise<void> {
    const here = new Set(present);
    for (const name of this.known.keys()) {
      // Looked for again: one made after the listing was read may already be known (and queued).
      if (!here.has(name) && !lstatSync(join(this.opts.handoffDir, name), { throwIfNoEntry: false })) {
        this.removed(name);
      }
    }
    return this.state.forget(this.state.recorded().filter((name) => !here.has(name)));
  }

  /**
   * Debounces events per file: a file is read once its writer has been quiet for the debounce,
   * counted from the file's last modification, so a file renamed into place whole, or written
   * long ago, is read at once. A file is read first, and its modification time checked on the
   * open file; a change while it waits starts the wait again.
   */
  private schedule(name: string, rescan = false): void {
    if (this.closing) return;
    if (!this.firstSeen.has(name)) this.firstSeen.set(name, Date.now());
    const waiting = this.debounces.has(name);
    // A rescan leaves a waiting file as it is.
    if (rescan && (waiting || this.due.has(name))) return;
    // An event while it waits means the writer is still at work.
    if (waiting) this.waitQuiet(name, this.opts.debounceMs);
    else this.enqueue(name, false);
  }

  /** Reads the file after `ms` without events for it. */
  private waitQuiet(name: string, ms: number): void {
    clearTimeout(this.debounces.get(name));
    this.due.delete(name);
    this.debounces.set(
      name,
      setTimeout(() => {
        this.debounces.delete(name);
        this.enqueue(name, true);
      }, ms),
    );
  }

  /** Queues a file for reading; `quiet` when it has been quiet for the debounce. */
  private enqueue(name: string, quiet: boolean): void {
    this.due.set(name, quiet);
    this.resumeReads();
  }

  private resumeReads(): void {
    if (this.draining || this.due.size === 0) return;
    this.draining = true;
    setImmediate(() => this.drainDue());
  }

  /** Intents accepted and not yet with a worker, or with one. */
  private get backlog(): number {
    return this.batches.pending + this.pool.busy;
  }

  /**
   * Reads up to READS_PER_TURN due files, then lets the event loop turn before the next ones: a
   * burst of thousands is thus submitted while it is read, instead of the API server waiting
   * until the last file has been read before the first batch goes out. Reading pauses while the
   * workers have enough ahead of them, and resumes as they finish: a burst of any size is held
   * as names, not as parsed intents, which also keeps the garbage collector's work small.
   */
  private drainDue(): void {
    let read = 0;
    const ahead = READ_AHEAD_PER_WORKER * this.opts.workers + this.opts.batchSize;
    for (const [name, quiet] of this.due) {
      if (read++ === READS_PER_TURN || this.closing || this.backlog >= ahead) break;
      this.due.delete(name);
      const seenAt = this.firstSeen.get(name) ?? Date.now();
      this.firstSeen.delete(name);
      void this.reads
        .run(() => this.handle(name, seenAt, quiet))
        .catch((err: Error) =>
          this.log.error(
            { file: name, err: err.message },
            `failed to process ${join(this.opts.handoffDir, name)}`,
          ),
        );
    }
    this.draining = false;
    if (this.backlog < ahead) this.resumeReads();
  }

  /**
   * How much longer a file modified at `mtimeMs` must stay unmodified to have been quiet for the
   * debounce; a modification time in the future (a shared volume's clock ahead of ours) waits it all.
   */
  private quietWait(mtimeMs: number): number {
    const debounce = this.opts.debounceMs;
    const since = Date.now() - mtimeMs;
    return since >= debounce ? 0 : Math.min(debounce, debounce - since);
  }

  /** Reads, claims, parses and validates one file; an accepted intent joins the batch. */
  private async handle(name: string, seenAt: number, quiet = true): Promise<void> {
    if (this.closing) {
      this.summary.unread++;
      return;
    }
    const path = join(this.opts.handoffDir, name);
    // A file unchanged since we last read it needs no second read to know its hash.
    const prior = this.known.get(name);
    if (prior) {
      const info = await lstat(path).catch(() => undefined);
      if (!info) return this.removed(name);
      if (sameVersion(prior, info)) {
        if (this.inFlight.has(`${name}@${prior.sha256.slice(0, 16)}`)) return;
        if (this.state.finished(name, prior.sha256)) return;
      }
    }

    const read = readIntentFile(path, this.opts.maxFileBytes ?? MAX_INTENT_FILE_BYTES);
    if (!read.ok && read.reason === 'NotFound') return this.removed(name);
    // A symlink is never opened: its own lstat names its version.
    const version = read.version ?? (await lstat(path).catch(() => undefined));
    if (!version) return;
    const wait = quiet ? 0 : this.quietWait(version.mtimeMs);
    if (wait > 0) {
      this.firstSeen.set(name, seenAt);
      this.waitQuiet(name, wait);
      return;
    }
    const sha256 = read.ok ? read.sha256 : await fingerprint(path, read.reason, version);
    const size = read.ok ? read.bytes.length : version.size;
    // chmod changes no mtime: an unreadable file is looked at afresh each time, not by its version.
    if (read.ok || read.reason !== 'Unreadable') {
      const { mtimeMs, size: bytes, ino, ctimeMs } = version;
      this.known.set(name, { mtimeMs, size: bytes, ino, ctimeMs, sha256 });
    }
    const key = `${name}@${sha256.slice(0, 16)}`;
    // Checked and marked with no await in between: two events for one file must not both pass.
    if (this.inFlight.has(key)) return;
    if (this.state.finished(name, sha256)) {
      this.summary.skipped++;
      return;
    }
    this.inFlight.add(key);
    const verdict = judge(read, this.opts.validator);
    if (verdict.ok) {
      // Claimed with its batch: one claim round and one state read per batch, not per file.
      const intent = verdict.intent;
      this.accept({ file: name, path, key, sha256, size, intent, ni: toNetworkIntent(intent), seenAt });
      return;
    }
    const claimed = await this.claims.acquire(key).catch((err: Error) => {
      this.inFlight.delete(key);
      throw err;
    });
    // Another replica may have finished the file between our state check and our claim.
    this.state.refresh();
    if (!claimed || this.state.finished(name, sha256)) {
      this.inFlight.delete(key);
      if (claimed) await this.claims.release(key);
      if (claimed || this.state.finished(name, sha256)) this.summary.skipped++;
      else this.leftToHolder(path, key);
      return;
    }
    metrics.filesSeen.inc();
    return this.reject(key, path, name, sha256, size, verdict.reason, verdict.message, verdict.errors);
  }

  /**
   * The file is gone: whatever of it waits to be submitted (in a batch, or for a retry) is
   * withdrawn when its turn comes, as a rewrite withdraws it (see superseded).
   */
  private removed(name: string): void {
    this.known.delete(name);
  }

  private accept(item: AcceptedIntent): void {
    metrics.queueDepth.inc();
    this.batches.add(item);
  }

  private dispatch(batch: AcceptedIntent[]): void {
    metrics.batchSize.observe(batch.length);
    this.log.debug({ size: batch.length }, `Processing batch of ${batch.length} intents`);
    const run = this.runBatch(batch).catch((err: Error) => {
      // The state write failed: the files stay unrecorded, and the next scan submits them again
      // (meeting AlreadyExists). Nothing is claimed meanwhile, so the other replica may too.
      this.log.error({ files: batch.map((i) => i.path), err: err.message }, 'failed to record a batch');
      for (const item of batch) this.settle(item);
      return Promise.all(batch.map((item) => this.claims.release(item.key))).then(() => {});
    });
    this.batchesRunning.add(run);
    void run.finally(() => this.batchesRunning.delete(run));
  }

  private async batchesDone(): Promise<void> {
    while (this.batchesRunning.size) await Promise.all(this.batchesRunning);
  }

  /**
   * Submits a batch through the worker pool, then records its outcomes in one state write: the
   * workers only talk to the API server, so they are never held up by the disk.
   */
  private async runBatch(all: AcceptedIntent[]): Promise<void> {
    const batch = await this.claimBatch(all);
    const outcomes = await Promise.all(
      batch.map((item) =>
        this.pool
          .run(() => this.submit(item))
          .then((result) => {
            this.resumeReads();
            return this.conclude(item, result);
          })
          .catch((err: Error) => {
            // Left unrecorded: the next scan, or the other replica, tries the file again.
            this.log.error({ file: item.path, err: err.message }, `failed to process ${item.path}`);
            return undefined;
          }),
      ),
    );
    const records: [string, FileRecord][] = [];
    for (const o of outcomes) if (o?.record) records.push([o.item.file, o.record]);
    if (records.length) await this.state.recordAll(records);
    for (const o of outcomes) {
      if (!o?.record) continue;
      if (o.record.status === 'processed') {
        this.summary.processed++;
        this.log.info(
          { file: o.item.path, name: o.item.ni.metadata!.name, namespace: o.item.ni.metadata!.namespace },
          `Successfully processed: ${o.item.path}`,
        );
      } else this.summary.failed++;
    }
    await Promise.all(
      batch.map(async (item, i) => {
        if (outcomes[i]?.requeued) return;
        this.settle(item);
        await this.claims.release(item.key);
      }),
    );
  }

  /**
   * Claims a batch's files; those another replica holds, or has finished since we looked, are
   * left to it. One state read after the claims serves the whole batch.
   */
  private async claimBatch(batch: AcceptedIntent[]): Promise<AcceptedIntent[]> {
    const held = await Promise.all(
      batch.map((item) =>
        this.claims.acquire(item.key).catch((err: Error) => {
          this.log.error({ file: item.path, err: err.message }, `cannot claim ${item.path}`);
          // Not submitted: the next rescan, or the next run, tries again.
          this.summary.unsubmitted++;
          return undefined;
        }),
      ),
    );
    this.state.refresh();
    const mine: AcceptedIntent[] = [];
    await Promise.all(
      batch.map(async (item, i) => {
        const superseded = this.superseded(item);
        if (held[i] && !superseded && !this.state.finished(item.file, item.sha256)) {
          if (!item.counted) metrics.filesSeen.inc();
          item.counted = true;
          mine.push(item);
          return;
        }
        if (held[i] && superseded) {
          this.log.info(
            { file: item.path, sha256: item.sha256 },
            this.known.has(item.file)
              ? `${item.path} changed before its earlier content was submitted; only the new content is`
              : `${item.path} was removed before its content was submitted; its intent is withdrawn`,
          );
        }
        this.settle(item);
        if (held[i]) {
          this.summary.skipped++;
          await this.claims.release(item.key);
        } else if (held[i] === false) {
          if (this.state.finished(item.file, item.sha256)) this.summary.skipped++;
          else this.leftToHolder(item.path, item.key);
        }
      }),
    );
    return mine;
  }

  /**
   * Whether the file has been read with other content, or removed, since this intent was accepted
   * (while it waited for its batch or for the API server): submitting the older content after, or
   * beside, the newer would leave two NetworkIntents fighting over one target, and a removed file's
   * intent is one its producer took back. (Every accepted intent's file is known until it is found
   * gone, by a read or a rescan.)
   */
  private superseded(item: AcceptedIntent): boolean {
    return this.known.get(item.file)?.sha256 !== item.sha256;
  }

  /**
   * Another loop holds the file's claim: it is left to that one, and under --once the run says so
   * (exit code 3) rather than ending as if there had been nothing to do.
   */
  private leftToHolder(path: string, key: string): void {
    this.summary.held++;
    const holder = this.claims.holder(key);
    // A running loop meets its peer's claims all the time; a --once run ends without the file.
    this.log[this.isOnce ? 'warn' : 'debug'](
      { file: path, holder },
      `${path} is claimed by ${holder ? `conductor-loop ${holder}` : 'another conductor-loop'}; left to it (a claim not refreshed for --claim-timeout is taken over)`,
    );
  }

  /** One API submission (the worker's whole job). */
  private submit(item: AcceptedIntent): Promise<SubmitResult> {
    const name = item.ni.metadata!.name!;
    const ns = item.ni.metadata!.namespace!;
    // Past the stop's deadline nothing new is sent: submitNetworkIntent leaves the intent queued.
    if (!this.abort.signal.aborted) {
      this.log.info(
        { name, namespace: ns, file: item.path },
        `Creating NetworkIntent CR: ${name} in namespace ${ns}`,
      );
    }
    return submitNetworkIntent(this.opts.client, item.ni, { signal: this.abort.signal });
  }

  /** What a submission's result means for its file: a record to write, or another try later. */
  private async conclude(
    item: AcceptedIntent,
    result: SubmitResult,
  ): Promise<{ item: AcceptedIntent; record?: FileRecord; requeued?: boolean }> {
    const name = item.ni.metadata!.name!;
    const ns = item.ni.metadata!.namespace!;
    switch (result.outcome) {
      case 'created':
      case 'exists': {
        metrics.intentsSubmitted.inc({ result: result.outcome });
        metrics.fileToCr.observe((Date.now() - item.seenAt) / 1000);
        this.log.info(
          { name, namespace: ns, result: result.outcome },
          result.outcome === 'created'
            ? `Successfully created NetworkIntent CR: ${ns}/${name}`
            : `NetworkIntent CR already exists with the same spec: ${ns}/${name}`,
        );
        if (this.opts.outDir) await this.writeOut(item);
        const record: FileRecord = {
          sha256: item.sha256,
          size: item.size,
          processed_at: new Date().toISOString(),
          status: 'processed',
          cr_name: `${ns}/${name}`,
        };
        return { item, record };
      }
      case 'retry': {
        metrics.submitErrors.inc({ reason: result.reason });
        // The loop's own credentials failing stops every submission: an error, not a passing warning.
        this.log[result.credentials ? 'error' : 'warn'](
          { name, namespace: ns, reason: result.reason, err: result.message },
          `failed to create NetworkIntent CR ${ns}/${name}: ${result.message}; kept queued`,
        );
        if (this.requeue(item)) return { item, requeued: true };
        this.summary.unsubmitted++;
        return { item };
      }
      case 'failed': {
        metrics.submitErrors.inc({ reason: result.reason });
        this.log.error({ name, namespace: ns, reason: result.reason, err: result.message }, result.message);
        const errorFile = await writeErrorFile(this.opts.errorDir, {
          file: item.path,
          reason: result.reason,
          message: result.message,
          ...(result.status ? { status: result.status } : {}),
          ...(result.forbidden ? { forbidden: result.forbidden } : {}),
          sha256: item.sha256,
        });
        return { item, record: failureRecord(item.sha256, item.size, errorFile) };
      }
    }
  }

  /** Puts an intent back for a later attempt; false when the loop is ending (once, or stopping). */
  private requeue(item: AcceptedIntent): boolean {
    if (this.closing || this.isOnce) return false;
    const delay = this.opts.periodMs > 0 ? this.opts.periodMs : DEFAULT_RETRY_DELAY_MS;
    this.retryTimers.set(
      item.key,
      setTimeout(() => {
        this.retryTimers.delete(item.key);
        if (this.closing) return;
        metrics.queueDepth.dec();
        this.accept(item);
      }, delay),
    );
    return true;
  }

  private get isOnce(): boolean {
    return !this.watcher;
  }

  /** The item leaves the queue (once, however many paths reach here). */
  private settle(item: AcceptedIntent): void {
    if (this.inFlight.delete(item.key)) metrics.queueDepth.dec();
  }

  private async reject(
    key: string,
    path: string,
    file: string,
    sha256: string,
    size: number,
    reason: string,
    message: string,
    errors?: string[],
  ): Promise<void> {
    metrics.validationFailures.inc({ reason });
    const text = errors
      ? `validation failed: ${message}\n${errors.map((e) => `- ${e}`).join('\n')}`
      : message;
    this.log.error({ file: path, reason, errors }, text);
    try {
      const errorFile = await writeErrorFile(this.opts.errorDir, {
        file: path,
        reason,
        message,
        ...(errors ? { errors } : {}),
        sha256,
      });
      await this.recordFailure(file, sha256, size, errorFile);
    } finally {
      this.inFlight.delete(key);
      await this.claims.release(key);
    }
  }

  private async recordFailure(file: string, sha256: string, size: number, errorFile: string): Promise<void> {
    await this.state.record(file, failureRecord(sha256, size, errorFile));
    this.summary.failed++;
  }

  /** `--out`: the NetworkIntent (structured) or the raw intent (direct) as YAML, for GitOps. */
  private async writeOut(item: AcceptedIntent): Promise<void> {
    const out = this.opts.outDir!;
    if (this.opts.porchMode === 'structured') {
      await writeFile(join(out, `${item.ni.metadata!.name}.yaml`), stringify(item.ni, { lineWidth: 0 }));
    } else {
      await writeFile(
        join(out, item.file.replace(/\.json$/, '.yaml')),
        stringify(item.intent, { lineWidth: 0 }),
      );
    }
  }
}

type Verdict =
  | { ok: true; intent: Intent }
  | { ok: false; reason: string; message: string; errors?: string[] };

/** A namespace name: a DNS-1123 label. */
const NAMESPACE_NAME = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether a file's content is an intent to submit, and if not, why (in the seed's words). */
function judge(read: ReadResult, validator: IntentValidator): Verdict {
  if (!read.ok) return { ok: false, reason: read.reason, message: read.message };
  const parsed = parseIntentJson(read.bytes);
  if (!parsed.ok) return { ok: false, reason: 'InvalidJSON', message: parsed.message };
  const result = validator.validate(parsed.doc);
  if (!result.ok) {
    return {
      ok: false,
      reason: 'ValidationFailed',
      message: 'jsonschema validation failed',
      errors: result.errors,
    };
  }
  const ns = result.intent.namespace;
  // The API server answers a create in such a namespace with NotFound, which reads as "not made
  // yet": the intent would wait for a namespace that can never exist.
  if (!NAMESPACE_NAME.test(ns)) {
    return {
      ok: false,
      reason: 'ValidationFailed',
      message: 'jsonschema validation failed',
      errors: [
        `at '/namespace': '${ns}' is not a valid namespace name (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)`,
      ],
    };
  }
  const allowed = result.intent.constraints?.allowed_namespaces;
  if (allowed?.length && !allowed.includes(result.intent.namespace)) {
    return {
      ok: false,
      reason: 'ValidationFailed',
      message: 'jsonschema validation failed',
      errors: [
        `at '/namespace': namespace '${result.intent.namespace}' is not in constraints.allowed_namespaces`,
      ],
    };
  }
  return { ok: true, intent: result.intent };
}

/** Creates one of the loop's directories; a failure names the flag and says what is in the way. */
async function makeDir(path: string, flag: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // mkdir's own EEXIST names neither the flag nor that a file is where the directory should be.
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`${flag}: ${path} is not a directory`);
    throw new Error(`${flag}: cannot create ${path}: ${(err as Error).message}`);
  }
}

function failureRecord(sha256: string, size: number, errorFile: string): FileRecord {
  return { sha256, size, processed_at: new Date().toISOString(), status: 'failed', error_file: errorFile };
}

/**
 * A stand-in hash for files that cannot be read, so that each version is reported once. An
 * unreadable file's version includes its ctime, which chmod and chown change: fixed permissions
 * make a new version, read again.
 */
async function fingerprint(
  path: string,
  reason: string,
  info: { size: number; mtimeMs: number; ctimeMs?: number },
): Promise<string> {
  const link = reason === 'Symlink' ? await readlink(path).catch(() => '') : '';
  const changed = reason === 'Unreadable' ? `\0${info.ctimeMs}` : '';
  return createHash('sha256')
    .update(`${reason}\0${info.size}\0${info.mtimeMs}\0${link}${changed}`)
    .digest('hex');
}
