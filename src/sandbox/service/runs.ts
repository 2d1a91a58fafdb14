import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { posix } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type CommandResult, DEFAULT_MAX_OUTPUT_BYTES, type OutputStream } from '../sandbox.js';
import { KeptOutput } from './kept-output.js';
import type { RunRequest } from './validate.js';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'error';
/**
 * `error`: the step started but could not finish, its sandbox failed under it (the Pod lost, the
 * exec connection broken); `skipped`: it never started.
 */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'error' | 'skipped';

export interface Step {
  command: string;
  status: StepStatus;
  exitCode?: number;
  timedOut?: boolean;
  /** Why a step with status `error` could not finish (the run's `error` too). */
  error?: string;
  stdout: string;
  stderr: string;
  /**
   * Some of its output is not stored: cut by the sandbox's per-command limit, or past the run's
   * output limit (the stream then ends with a line saying how many bytes were not kept).
   */
  truncated?: boolean;
}

export interface Run {
  id: string;
  image: string;
  repo?: string;
  status: RunStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The sandbox Job, once one was started. */
  sandbox?: string;
  /** Why the run could not be carried out (sandbox failed to start, lost its pod, …). */
  error?: string;
  steps: Step[];
  /** Some output of its steps was not kept (see each step's `truncated`). */
  outputTruncated?: boolean;
}

/** What the server streams for a run (one server-sent event each). */
export type RunEvent =
  | { type: 'status'; status: RunStatus; sandbox?: string; error?: string }
  | { type: 'step-start'; index: number; command: string }
  | { type: 'output'; index: number; stream: 'stdout' | 'stderr'; text: string }
  | {
      type: 'step-end';
      index: number;
      status: StepStatus;
      exitCode?: number;
      timedOut?: boolean;
      error?: string;
    }
  | { type: 'end'; status: RunStatus };

/** The part of KubernetesSandbox a run needs; the service passes real sandboxes. */
export interface RunSandbox {
  readonly jobName: string;
  init(): Promise<void>;
  runCommand(
    command: string,
    opts: {
      cwd?: string;
      env?: Record<string, string>;
      maxOutputBytes?: number;
      onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
    },
  ): Promise<CommandResult>;
  teardown(): Promise<void>;
}

export interface RunSchedulerOptions {
  defaultImage: string;
  /** Sandboxes running at once; further runs wait in the queue. */
  maxConcurrent: number;
  /** Runs waiting at most (0: none); beyond it submit() throws QueueFullError. */
  maxQueued: number;
  /** Finished runs kept for GET /api/runs. */
  history: number;
  /**
   * Output (UTF-8 bytes) the finished runs may hold together; past it the oldest are forgotten.
   * Running runs are bounded by `runOutputBytes` each.
   */
  historyBytes: number;
  /** Output a run stores; the rest is streamed live only, and the stored streams say so. */
  runOutputBytes: number;
  /** Directory in the sandbox under which each run gets its own. */
  workdir: string;
  newSandbox(image: string): RunSandbox;
  /**
   * This replica's token (see peers.ts), put in every run id so that any replica knows which one
   * holds the run; without it ids are `run-<time>-<random>`.
   */
  replica?: string;
  log: Logger;
  onRunFinished?(run: Run, seconds: number): void;
  /** A finished run left the history: beyond `history` runs, or beyond `historyBytes`. */
  onRunForgotten?(run: Run, reason: ForgetReason): void;
  /** Output of a run was not stored (past `runOutputBytes`). */
  onOutputDropped?(bytes: number): void;
}

export type ForgetReason = 'history' | 'history-bytes';

/** How much of one stream of a step went out live, and how much of that is stored. */
interface StreamCount {
  /** Characters sent live, the closing marker not included. */
  live: number;
  /** Characters of those stored: the first `kept` sent (a run stores a prefix of each stream). */
  kept: number;
}

/** A run's bookkeeping besides what its JSON shows. */
interface RunState {
  run: Run;
  output: KeptOutput;
  /** Steps run in order, so those below this index have started. */
  stepsStarted: number;
  /** Events other than output sent so far, the `queued` status that opens every run included. */
  milestones: number;
  /** Per started step, its streams' counts. */
  counts: Record<OutputStream, StreamCount>[];
}

/**
 * Where an event leaves a subscriber, as its event id `<m>.<o>.<e>`: it has the first `m` events
 * other than output, and of the step the last of them started (if so) the first `o` characters of
 * stdout and `e` of stderr as sent live. Ids only grow, and mean the same for every subscriber of a
 * run, so one that reconnects with the last id it got (Last-Event-ID) resumes right after it.
 */
export interface EventCursor {
  milestones: number;
  stdout: number;
  stderr: number;
}

export function eventId(c: EventCursor): string {
  return `${c.milestones}.${c.stdout}.${c.stderr}`;
}

/** A Last-Event-ID that is not an id of the run it was sent for. */
export class EventIdError extends Error {
  override name = 'EventIdError';
}

/** Sent in place of output a resumed subscriber missed that was not kept (past the run's limit). */
export const MISSED_OUTPUT_MARKER =
  "\n[output missed while disconnected: it was past the run's output limit, so it was not kept to send again]\n";

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/** First wait before a failed sandbox teardown is tried again; it doubles up to the maximum. */
const TEARDOWN_RETRY_MS = 500;
const TEARDOWN_RETRY_MAX_MS = 30_000;

const FINISHED: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'error']);

export function isFinished(run: Run): boolean {
  return FINISHED.has(run.status);
}

const STREAMS: readonly OutputStream[] = ['stdout', 'stderr'];

function stepEnd(index: number, step: Step): RunEvent {
  return {
    type: 'step-end',
    index,
    status: step.status,
    ...(step.exitCode !== undefined ? { exitCode: step.exitCode } : {}),
    ...(step.timedOut ? { timedOut: true } : {}),
    ...(step.error !== undefined ? { error: step.error } : {}),
  };
}

/**
 * Runs CI jobs in sandboxes, at most `maxConcurrent` at once and the rest in FIFO order: clone the
 * repository when one is given, then the commands in order, stopping at the first failure.
 *
 * A run's events are not stored: a subscriber's replay is rebuilt from the run's state. Every
 * change of state and the event telling it happen in one synchronous step, so the state at
 * subscription holds exactly the events sent before it, and the live ones follow.
 */
export class RunScheduler {
  private readonly runs = new Map<string, RunState>();
  private readonly queue: Run[] = [];
  private readonly emitter = new EventEmitter();
  private readonly inFlight = new Set<Promise<void>>();
  private active = 0;
  private stopped = false;
  /** Aborted by stop(): ends the waits between teardown retries. */
  private readonly stopping = new AbortController();
  /** Output bytes held by the finished runs in `runs`. */
  private finishedOutputBytes = 0;

  constructor(private readonly opts: RunSchedulerOptions) {
    if (opts.runOutputBytes > opts.historyBytes) {
      throw new RangeError(
        `runOutputBytes (${opts.runOutputBytes}) is larger than historyBytes (${opts.historyBytes}): a finished run could not be kept`,
      );
    }
    this.emitter.setMaxListeners(0);
  }

  get activeCount(): number {
    return this.active;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  /** Output bytes the finished runs still kept hold together. */
  get retainedHistoryBytes(): number {
    return this.finishedOutputBytes;
  }

  submit(req: RunRequest): Run {
    if (this.stopped) throw new QueueFullError('the service is shutting down');
    // Refused only when it would have to wait: with a slot free it starts at once, even when no
    // run may wait (maxQueued 0).
    if (this.active >= this.opts.maxConcurrent && this.queue.length >= this.opts.maxQueued) {
      throw new QueueFullError(
        this.opts.maxQueued === 0
          ? `all ${this.active} sandboxes are busy and no run may wait; try again later`
          : `${this.queue.length} runs are already waiting; try again later`,
      );
    }
    const replica = this.opts.replica ? `${this.opts.replica}-` : '';
    const id = `run-${replica}${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const clone = req.repo
      ? [{ command: `git clone --depth 1 ${req.repo} .`, status: 'pending' as const }]
      : [];
    const run: Run = {
      id,
      image: req.image ?? this.opts.defaultImage,
      ...(req.repo ? { repo: req.repo } : {}),
      status: 'queued',
      createdAt: new Date().toISOString(),
      steps: [...clone, ...req.commands.map((command) => ({ command, status: 'pending' as const }))].map(
        (s) => ({
          ...s,
          stdout: '',
          stderr: '',
        }),
      ),
    };
    this.runs.set(id, {
      run,
      output: new KeptOutput(this.opts.runOutputBytes),
      stepsStarted: 0,
      milestones: 1,
      counts: [],
    });
    this.queue.push(run);
    this.pump();
    return run;
  }

  get(id: string): Run | undefined {
    return this.runs.get(id)?.run;
  }

  /** Newest first. */
  list(): Run[] {
    return [...this.runs.values()].map((s) => s.run).reverse();
  }

  /**
   * Replays a run so far, then delivers new events until its end event; returns the unsubscribe
   * function, or undefined for an unknown run. The replay carries a step's stored output as one
   * `output` event per stream (stdout first), not in the pieces it arrived in. Given the id of the
   * last event a subscriber got (see EventCursor), the replay starts right after it.
   */
  subscribe(
    id: string,
    listener: (event: RunEvent, eventId: string) => void,
    lastEventId?: string,
  ): (() => void) | undefined {
    const state = this.runs.get(id);
    if (!state) return undefined;
    const from = lastEventId === undefined ? undefined : this.cursorOf(state, lastEventId);
    for (const [e, eid] of replay(state, from)) listener(e, eid);
    if (isFinished(state.run)) return () => {};
    const live = ({ event, eventId }: { event: RunEvent; eventId: string }) => listener(event, eventId);
    this.emitter.on(id, live);
    return () => this.emitter.off(id, live);
  }

  /**
   * Throws EventIdError unless `lastEventId` is an id the run `id` has sent; true when it is the
   * id of the run's end event: nothing follows it.
   */
  isLastEventId(id: string, lastEventId: string): boolean {
    const state = this.runs.get(id);
    if (!state) return false;
    const cursor = this.cursorOf(state, lastEventId);
    return isFinished(state.run) && cursor.milestones === state.milestones;
  }

  private cursorOf(state: RunState, lastEventId: string): EventCursor {
    const m = /^(\d{1,9})\.(\d{1,15})\.(\d{1,15})$/.exec(lastEventId);
    const cursor = m && { milestones: Number(m[1]), stdout: Number(m[2]), stderr: Number(m[3]) };
    if (!cursor || cursor.milestones < 1 || cursor.milestones > state.milestones) {
      throw new EventIdError(
        `Last-Event-ID ${JSON.stringify(lastEventId)} is not an event id of run ${state.run.id}`,
      );
    }
    return cursor;
  }

  /** Stops taking runs, drops the queued ones and waits for the running ones to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const run of this.queue.splice(0)) {
      run.error = 'the service shut down before the run started';
      this.skipRemaining(run);
      this.finish(run, 'error');
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Sends an event live, with its id: the place it leaves a subscriber in the run. */
  private emit(run: Run, event: RunEvent): void {
    const state = this.runs.get(run.id)!;
    let cursor: EventCursor;
    if (event.type === 'output') {
      const counts = state.counts[event.index]!;
      cursor = {
        milestones: state.milestones,
        stdout: liveEnd(state, event.index, 'stdout', counts),
        stderr: liveEnd(state, event.index, 'stderr', counts),
      };
    } else cursor = { milestones: ++state.milestones, stdout: 0, stderr: 0 };
    this.emitter.emit(run.id, { event, eventId: eventId(cursor) });
  }

  private pump(): void {
    while (!this.stopped && this.active < this.opts.maxConcurrent && this.queue.length > 0) {
      const run = this.queue.shift()!;
      this.active++;
      const p = this.execute(run).finally(() => {
        this.active--;
        this.inFlight.delete(p);
        this.pump();
      });
      this.inFlight.add(p);
    }
  }

  private async execute(run: Run): Promise<void> {
    const log = this.opts.log.child({ run: run.id });
    const state = this.runs.get(run.id)!;
    run.status = 'running';
    run.startedAt = new Date().toISOString();
    let sandbox: RunSandbox | undefined;
    try {
      sandbox = this.opts.newSandbox(run.image);
      run.sandbox = sandbox.jobName;
      this.emit(run, { type: 'status', status: 'running', sandbox: sandbox.jobName });
      log.info({ sandbox: sandbox.jobName, image: run.image }, 'starting sandbox');
      await sandbox.init();
      const cwd = posix.join(this.opts.workdir, run.id);
      const prepared = await sandbox.runCommand('mkdir -p -- "$RUN_DIR"', { env: { RUN_DIR: cwd } });
      if (prepared.exitCode !== 0) throw new Error(`could not create ${cwd}: ${prepared.stderr.trim()}`);
      let failed = false;
      for (const [index, step] of run.steps.entries()) {
        if (failed) {
          step.status = 'skipped';
          this.emit(run, stepEnd(index, step));
          continue;
        }
        step.status = 'running';
        state.stepsStarted = index + 1;
        state.counts[index] = { stdout: { live: 0, kept: 0 }, stderr: { live: 0, kept: 0 } };
        this.emit(run, { type: 'step-start', index, command: step.command });
        const isClone = run.repo !== undefined && index === 0;
        // Output goes out as the command writes it; the pieces add up to the final result.
        const received = { stdout: 0, stderr: 0 };
        const onOutput = (stream: OutputStream, text: string) => {
          received[stream] += text.length;
          this.record(state, index, stream, text);
        };
        // The run's limit decides what is kept, not the sandbox's smaller default per command,
        // which would cut a step (and its live output) at 1 MiB.
        const maxOutputBytes = Math.max(DEFAULT_MAX_OUTPUT_BYTES, this.opts.runOutputBytes);
        const r = isClone
          ? await sandbox.runCommand('git clone --depth 1 -- "$REPO" .', {
              cwd,
              env: { REPO: run.repo! },
              maxOutputBytes,
              onOutput,
            })
          : await sandbox.runCommand(step.command, { cwd, maxOutputBytes, onOutput });
        // What the sandbox did not stream (a sandbox without live output) is recorded now.
        for (const stream of STREAMS) this.record(state, index, stream, r[stream].slice(received[stream]));
        this.closeOutput(state, index);
        step.exitCode = r.exitCode;
        if (r.timedOut) step.timedOut = true;
        if (r.truncated) step.truncated = true;
        step.status = r.exitCode === 0 ? 'succeeded' : 'failed';
        this.emit(run, stepEnd(index, step));
        failed = r.exitCode !== 0;
      }
      this.finish(run, failed ? 'failed' : 'succeeded');
    } catch (err) {
      run.error = (err as Error).message;
      log.warn({ err: run.error }, 'run could not be carried out');
      const current = state.stepsStarted - 1;
      const interrupted = run.steps[current];
      if (interrupted?.status === 'running') {
        // It ran and may have printed: calling it skipped would say it never started.
        this.closeOutput(state, current);
        interrupted.status = 'error';
        interrupted.error = run.error;
        this.emit(run, stepEnd(current, interrupted));
      }
      this.skipRemaining(run);
      this.finish(run, 'error');
    } finally {
      if (sandbox) await this.tearDown(sandbox, log);
    }
    log.info({ status: run.status }, 'run finished');
  }

  /**
   * Tears a run's sandbox down, retrying while the API server fails it: the run keeps its slot
   * meanwhile, so no more than `maxConcurrent` sandboxes exist. Once the service stops, a failed
   * teardown is left to the process-exit teardown and the Job's owner and deadline.
   */
  private async tearDown(sandbox: RunSandbox, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await sandbox.teardown();
        return;
      } catch (err) {
        log.warn(
          { err: (err as Error).message, sandbox: sandbox.jobName, attempt },
          'sandbox teardown failed',
        );
      }
      if (this.stopping.signal.aborted) return;
      const waitMs = Math.min(TEARDOWN_RETRY_MS * 2 ** (attempt - 1), TEARDOWN_RETRY_MAX_MS);
      await delay(waitMs, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
  }

  /** Stores what the run's output limit allows of a piece, and sends all of it live. */
  private record(state: RunState, index: number, stream: OutputStream, text: string): void {
    if (!text) return;
    const step = state.run.steps[index]!;
    const kept = state.output.keep(index, stream, text);
    step[stream] += kept;
    const count = state.counts[index]![stream];
    count.live += text.length;
    count.kept += kept.length;
    if (kept.length < text.length) {
      step.truncated = true;
      state.run.outputTruncated = true;
      this.opts.onOutputDropped?.(Buffer.byteLength(text) - Buffer.byteLength(kept));
    }
    this.emit(state.run, { type: 'output', index, stream, text });
  }

  /** Ends a step's streams that lost output with the line saying how much. */
  private closeOutput(state: RunState, index: number): void {
    for (const stream of STREAMS) {
      const marker = state.output.close(index, stream);
      if (!marker) continue;
      state.run.steps[index]![stream] += marker;
      this.emit(state.run, { type: 'output', index, stream, text: marker });
    }
  }

  private skipRemaining(run: Run): void {
    for (const [index, step] of run.steps.entries()) {
      if (step.status !== 'pending') continue;
      step.status = 'skipped';
      this.emit(run, stepEnd(index, step));
    }
  }

  private finish(run: Run, status: RunStatus): void {
    run.status = status;
    run.finishedAt = new Date().toISOString();
    const seconds = run.startedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : 0;
    this.opts.onRunFinished?.(run, seconds);
    this.emit(run, { type: 'status', status, ...(run.error ? { error: run.error } : {}) });
    this.emit(run, { type: 'end', status });
    this.emitter.removeAllListeners(run.id);
    this.finishedOutputBytes += this.runs.get(run.id)?.output.bytes ?? 0;
    this.forgetOldRuns();
  }

  /** Oldest first, finished runs go while there are more than `history` or they hold too much. */
  private forgetOldRuns(): void {
    const finished = [...this.runs.values()].filter((s) => isFinished(s.run));
    let kept = finished.length;
    const overBytes: string[] = [];
    for (const state of finished) {
      const reason: ForgetReason | undefined =
        kept > this.opts.history
          ? 'history'
          : this.finishedOutputBytes > this.opts.historyBytes
            ? 'history-bytes'
            : undefined;
      if (!reason) break;
      this.runs.delete(state.run.id);
      this.finishedOutputBytes -= state.output.bytes;
      kept--;
      if (reason === 'history-bytes') overBytes.push(state.run.id);
      this.opts.onRunForgotten?.(state.run, reason);
    }
    if (overBytes.length > 0) {
      this.opts.log.info(
        { runs: overBytes, keptBytes: this.finishedOutputBytes, limitBytes: this.opts.historyBytes },
        'forgot the oldest finished runs: the output of finished runs passed its limit',
      );
    }
  }
}

/** Where a step's stream stands live: the characters sent, its closing marker included. */
function liveEnd(
  state: RunState,
  index: number,
  stream: OutputStream,
  counts = state.counts[index]!,
): number {
  const { live, kept } = counts[stream];
  // Stored: the first `kept` characters sent, then the marker once the stream is closed.
  return live + state.run.steps[index]![stream].length - kept;
}

/**
 * The stored text of a step's stream from character `from` of what was sent live on: what a
 * subscriber that got that far still needs. Sent characters that were not stored (past the run's
 * limit) cannot be sent again, and a marker says so.
 */
function outputFrom(state: RunState, index: number, stream: OutputStream, from: number): string {
  const step = state.run.steps[index]!;
  const stored = step[stream];
  const { live, kept } = state.counts[index]![stream];
  let text = from < kept ? stored.slice(from, kept) : '';
  // A closed stream's own marker tells of what was not kept, unless some of that was had.
  const closed = step.status !== 'running';
  if (Math.max(from, kept) < live && (!closed || from > kept)) text += MISSED_OUTPUT_MARKER;
  return text + stored.slice(kept).slice(Math.max(0, from - live));
}

/**
 * The events that brought a run to its present state, rebuilt from that state, each with its id;
 * after `from`, only those a subscriber that got that far has not had.
 */
function* replay(
  state: RunState,
  from: EventCursor = { milestones: 0, stdout: 0, stderr: 0 },
): Generator<[RunEvent, string]> {
  const { run, stepsStarted } = state;
  let milestones = 0;
  function* milestone(event: RunEvent): Generator<[RunEvent, string]> {
    milestones++;
    if (milestones > from.milestones) yield [event, eventId({ milestones, stdout: 0, stderr: 0 })];
  }
  yield* milestone({ type: 'status', status: 'queued' });
  if (run.sandbox) yield* milestone({ type: 'status', status: 'running', sandbox: run.sandbox });
  for (const [index, step] of run.steps.entries()) {
    if (index < stepsStarted) {
      yield* milestone({ type: 'step-start', index, command: step.command });
      // This step's output from where the subscriber left it: nothing of it is had unless its
      // start was the last event other than output it got.
      if (milestones >= from.milestones) {
        const at = milestones === from.milestones ? { ...from } : { milestones, stdout: 0, stderr: 0 };
        for (const stream of STREAMS) {
          const text = outputFrom(state, index, stream, at[stream]);
          at[stream] = liveEnd(state, index, stream);
          if (text) yield [{ type: 'output', index, stream, text }, eventId(at)];
        }
      }
    }
    if (step.status !== 'pending' && step.status !== 'running') yield* milestone(stepEnd(index, step));
  }
  if (isFinished(run)) {
    yield* milestone({ type: 'status', status: run.status, ...(run.error ? { error: run.error } : {}) });
    yield* milestone({ type: 'end', status: run.status });
  }
}
