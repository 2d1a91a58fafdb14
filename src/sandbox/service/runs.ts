import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import type { CommandResult } from '../sandbox.js';
import type { RunRequest } from './validate.js';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'error';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface Step {
  command: string;
  status: StepStatus;
  exitCode?: number;
  timedOut?: boolean;
  stdout: string;
  stderr: string;
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
}

/** What the server streams for a run (one server-sent event each). */
export type RunEvent =
  | { type: 'status'; status: RunStatus; sandbox?: string; error?: string }
  | { type: 'step-start'; index: number; command: string }
  | { type: 'output'; index: number; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'step-end'; index: number; status: StepStatus; exitCode?: number; timedOut?: boolean }
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
      onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
    },
  ): Promise<CommandResult>;
  teardown(): Promise<void>;
}

export interface RunSchedulerOptions {
  defaultImage: string;
  /** Sandboxes running at once; further runs wait in the queue. */
  maxConcurrent: number;
  /** Runs waiting at most; beyond it submit() throws QueueFullError. */
  maxQueued: number;
  /** Finished runs kept for GET /api/runs. */
  history: number;
  /** Directory in the sandbox under which each run gets its own. */
  workdir: string;
  newSandbox(image: string): RunSandbox;
  log: Logger;
  onRunFinished?(run: Run, seconds: number): void;
}

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

const FINISHED: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'error']);

export function isFinished(run: Run): boolean {
  return FINISHED.has(run.status);
}

/**
 * Runs CI jobs in sandboxes, at most `maxConcurrent` at once and the rest in FIFO order: clone the
 * repository when one is given, then the commands in order, stopping at the first failure.
 */
export class RunScheduler {
  private readonly runs = new Map<string, Run>();
  private readonly events = new Map<string, RunEvent[]>();
  private readonly queue: Run[] = [];
  private readonly emitter = new EventEmitter();
  private readonly inFlight = new Set<Promise<void>>();
  private active = 0;
  private stopped = false;

  constructor(private readonly opts: RunSchedulerOptions) {
    this.emitter.setMaxListeners(0);
  }

  get activeCount(): number {
    return this.active;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  submit(req: RunRequest): Run {
    if (this.stopped) throw new QueueFullError('the service is shutting down');
    if (this.queue.length >= this.opts.maxQueued) {
      throw new QueueFullError(`${this.queue.length} runs are already waiting; try again later`);
    }
    const id = `run-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
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
    this.runs.set(id, run);
    this.events.set(id, [{ type: 'status', status: 'queued' }]);
    this.queue.push(run);
    this.forgetOldRuns();
    this.pump();
    return run;
  }

  get(id: string): Run | undefined {
    return this.runs.get(id);
  }

  /** Newest first. */
  list(): Run[] {
    return [...this.runs.values()].reverse();
  }

  /**
   * Replays a run's events so far, then delivers new ones until its end event; returns the
   * unsubscribe function, or undefined for an unknown run.
   */
  subscribe(id: string, listener: (event: RunEvent) => void): (() => void) | undefined {
    const past = this.events.get(id);
    if (!past) return undefined;
    for (const e of past) listener(e);
    const last = past[past.length - 1];
    if (last?.type === 'end') return () => {};
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }

  /** Stops taking runs, drops the queued ones and waits for the running ones to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const run of this.queue.splice(0)) {
      run.error = 'the service shut down before the run started';
      this.finish(run, 'error');
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private emit(run: Run, event: RunEvent): void {
    this.events.get(run.id)?.push(event);
    this.emitter.emit(run.id, event);
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
          this.emit(run, { type: 'step-end', index, status: 'skipped' });
          continue;
        }
        step.status = 'running';
        this.emit(run, { type: 'step-start', index, command: step.command });
        const isClone = run.repo !== undefined && index === 0;
        // Output goes out as the command writes it; the pieces add up to the final result.
        const onOutput = (stream: 'stdout' | 'stderr', text: string) => {
          step[stream] += text;
          this.emit(run, { type: 'output', index, stream, text });
        };
        const r = isClone
          ? await sandbox.runCommand('git clone --depth 1 -- "$REPO" .', {
              cwd,
              env: { REPO: run.repo! },
              onOutput,
            })
          : await sandbox.runCommand(step.command, { cwd, onOutput });
        step.stdout = r.stdout;
        step.stderr = r.stderr;
        step.exitCode = r.exitCode;
        if (r.timedOut) step.timedOut = true;
        step.status = r.exitCode === 0 ? 'succeeded' : 'failed';
        this.emit(run, {
          type: 'step-end',
          index,
          status: step.status,
          exitCode: r.exitCode,
          ...(r.timedOut ? { timedOut: true } : {}),
        });
        failed = r.exitCode !== 0;
      }
      this.finish(run, failed ? 'failed' : 'succeeded');
    } catch (err) {
      run.error = (err as Error).message;
      log.warn({ err: run.error }, 'run could not be carried out');
      for (const step of run.steps)
        if (step.status === 'pending' || step.status === 'running') step.status = 'skipped';
      this.finish(run, 'error');
    } finally {
      await sandbox
        ?.teardown()
        .catch((err: Error) => log.warn({ err: err.message }, 'sandbox teardown failed'));
    }
    log.info({ status: run.status }, 'run finished');
  }

  private finish(run: Run, status: RunStatus): void {
    run.status = status;
    run.finishedAt = new Date().toISOString();
    const seconds = run.startedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : 0;
    this.opts.onRunFinished?.(run, seconds);
    this.emit(run, { type: 'status', status, ...(run.error ? { error: run.error } : {}) });
    this.emit(run, { type: 'end', status });
    this.emitter.removeAllListeners(run.id);
  }

  private forgetOldRuns(): void {
    const finished = [...this.runs.values()].filter(isFinished);
    for (const run of finished.slice(0, Math.max(0, finished.length - this.opts.history))) {
      this.runs.delete(run.id);
      this.events.delete(run.id);
    }
  }
}
