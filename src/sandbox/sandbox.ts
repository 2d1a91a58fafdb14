import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { ResourceRequirements } from 'kubernetes-types/core/v1.js';
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { KubeClient } from '../runtime/client/client.js';
import type { ConnectionOrigin } from '../runtime/client/connection.js';
import {
  ExecError,
  type ExecOptions,
  ExecStalledError,
  execInPod,
  keepaliveProblem,
} from '../runtime/client/exec.js';
import { Jobs, Pods } from '../runtime/client/kinds.js';
import { waitFor, within } from '../runtime/wait.js';
import { capOutput, commandArgv, TIMEOUT_EXIT_CODE } from './command.js';
import {
  SandboxFileError,
  SandboxLostError,
  SandboxStalledError,
  SandboxStartError,
  SandboxStateError,
} from './errors.js';
import { trackOpenSandbox, untrackSandbox } from './exit-teardown.js';
import { DEFAULT_WORKDIR, SANDBOX_CONTAINER, type SandboxJobSpec, sandboxJob } from './job.js';
import { LiveOutput } from './live-output.js';
import { guardPod, podLoss } from './pod-loss.js';
import { jobEnd, jobFailure, podProgress } from './pod-state.js';
import { firstFileOf, tarOf } from './tar.js';
import { watchUntil } from './watch-until.js';

export const DEFAULT_STARTUP_TIMEOUT_MS = 120_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;
/** Output kept per stream of one command; CI logs past this are rarely read. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** Largest file readFile returns. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** How long teardown waits for the Job and its Pods to be gone. */
const TEARDOWN_TIMEOUT_MS = 60_000;
/** How far this machine's clock may differ from the API server's for a Job's deadline to be due. */
const DEADLINE_CLOCK_SLACK_MS = 5_000;
/** How long a pod lost at its Job's deadline waits for the Job to say so. */
const DEADLINE_MARK_WAIT_MS = 10_000;
/** Extra time the exec stream gets past the in-pod timeout (which also needs to SIGKILL). */
const EXEC_GRACE_MS = 10_000;
/**
 * How long a failed command waits for the pod guard's first look at the pod, to tell a stream
 * broken by the pod's end from one broken by the network. Not longer: when the network stalled,
 * the guard's own request hangs too, until its deadline.
 */
const GUARD_CHECK_WAIT_MS = 3_000;

export interface SandboxOptions {
  /** Client to use; else one is loaded from `kubeconfig` ($KUBECONFIG, ~/.kube/config, in-cluster). */
  client?: KubeClient;
  kubeconfig?: string;
  /** The kubeconfig's context to use; its current-context when absent. */
  context?: string;
  resources?: ResourceRequirements;
  gpus?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  serviceAccountName?: string;
  /** The sandbox's working directory (an emptyDir), default /workspace. */
  workdir?: string;
  labels?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  /** Job name prefix; a random suffix is added. */
  namePrefix?: string;
  /**
   * Owners of the sandbox's Job (e.g. the Pod of the service that made it): when they are
   * deleted, the garbage collector deletes the Job, even if its maker died without teardown().
   */
  ownerReferences?: OwnerReference[];
  startupTimeoutMs?: number;
  /** Default timeout of each command. */
  commandTimeoutMs?: number;
  maxOutputBytes?: number;
  /**
   * How often each command's exec connection pings the API server (default 10 s), and how long
   * it may stay silent before the command fails with SandboxStalledError (default 30 s; must
   * exceed the interval). An interval of 0 turns the keepalive off.
   */
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
}

export interface RunCommandOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string | Buffer;
  /** Output kept per stream of this command; the sandbox's `maxOutputBytes` by default. */
  maxOutputBytes?: number;
  /**
   * Receives the output as the command writes it. The pieces of each stream add up to the
   * result's `stdout`/`stderr`, markers for a cut or a timeout included (delivered at the end).
   */
  onOutput?: (stream: OutputStream, text: string) => void;
}

export type OutputStream = 'stdout' | 'stderr';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** The command's exit status; 124 when it was stopped by the timeout. */
  exitCode: number;
  timedOut: boolean;
  truncated: boolean;
}

/**
 * The longest command timeout: the exec's timer, the timeout plus a grace, must fit Node's timers
 * (2^31 - 1 ms, about 24.8 days), or it fires at once and every command fails.
 */
const MAX_COMMAND_TIMEOUT_MS = 2 ** 31 - 1 - EXEC_GRACE_MS;

/** Options that may be 0; the rest must be at least 1. */
const MAY_BE_ZERO = new Set(['ttlSecondsAfterFinished', 'gpus', 'keepaliveIntervalMs', 'keepaliveTimeoutMs']);

type State = 'new' | 'starting' | 'ready' | 'closing' | 'closed';

/**
 * A sandbox for running commands in Kubernetes: a Job whose single Pod idles while commands are
 * exec'd into it. `init()` → `runCommand()`/`writeFile()`/`readFile()` → `teardown()`.
 */
export class KubernetesSandbox {
  readonly jobName: string;
  private state: State = 'new';
  private client?: KubeClient;
  private ownsClient = false;
  private pod?: string;
  /** What init() returns: start(), settling only after a teardown that interrupted it. */
  private starting?: Promise<void>;
  private startup?: Promise<void>;
  /** Aborted by a teardown while init() runs: the start stops at its next step. */
  private readonly startAbort = new AbortController();
  /** The Job's create request was sent, so the Job may exist. */
  private jobRequested = false;
  private closing?: Promise<void>;
  /** Why the pod was lost, once it was: every later call fails with it. */
  private lostReason?: string;

  constructor(
    readonly image: string,
    readonly namespace: string,
    private readonly options: SandboxOptions = {},
  ) {
    if (!image?.trim()) throw new TypeError('KubernetesSandbox: image is required');
    if (!namespace?.trim()) throw new TypeError('KubernetesSandbox: namespace is required');
    for (const [name, value] of Object.entries({
      gpus: options.gpus,
      activeDeadlineSeconds: options.activeDeadlineSeconds,
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      startupTimeoutMs: options.startupTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs,
      maxOutputBytes: options.maxOutputBytes,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
    })) {
      const min = MAY_BE_ZERO.has(name) ? 0 : 1;
      if (value !== undefined && (!Number.isInteger(value) || value < min)) {
        throw new TypeError(`KubernetesSandbox: ${name} must be a whole number ≥ ${min}, got ${value}`);
      }
    }
    for (const [name, value] of Object.entries({
      startupTimeoutMs: options.startupTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs,
    })) {
      if (value !== undefined && value > MAX_COMMAND_TIMEOUT_MS)
        throw new TypeError(
          `KubernetesSandbox: ${name} must be at most ${MAX_COMMAND_TIMEOUT_MS} (about 24 days), got ${value}`,
        );
    }
    // Checked here rather than at the first command, which would fail only once the Job is up.
    const keepalive = keepaliveProblem(options.keepaliveIntervalMs, options.keepaliveTimeoutMs);
    if (keepalive) throw new TypeError(`KubernetesSandbox: ${keepalive}`);
    this.jobName = `${options.namePrefix ?? 'ci-fixer-sandbox-'}${randomBytes(4).toString('hex')}`;
  }

  /** The sandbox's Pod, once init() resolved. */
  get podName(): string | undefined {
    return this.pod;
  }

  /** The cluster the sandbox runs in, as a fresh process would load it to tear it down. */
  get origin(): ConnectionOrigin {
    if (this.client) return this.client.transport.connection.origin;
    const { kubeconfig, context } = this.options;
    return { ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) };
  }

  get workdir(): string {
    return this.options.workdir ?? DEFAULT_WORKDIR;
  }

  /**
   * Creates the Job and resolves when its Pod is Running; on failure nothing is left behind. A
   * teardown() meanwhile wins: init() rejects once the teardown has deleted what it made.
   */
  init(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(new SandboxStateError(`sandbox ${this.jobName} was torn down`));
    }
    if (!this.starting) {
      const startup = this.start();
      this.startup = startup;
      this.starting = startup.catch(async (err: unknown) => {
        if (!this.startAbort.signal.aborted) throw err;
        await this.closing?.catch(() => {});
        throw err instanceof SandboxStateError ? err : this.tornDownWhileStarting(err);
      });
    }
    return this.starting;
  }

  private tornDownWhileStarting(cause?: unknown): SandboxStateError {
    return new SandboxStateError(
      `sandbox ${this.namespace}/${this.jobName} was torn down while it was starting`,
      cause === undefined ? undefined : { cause },
    );
  }

  private async start(): Promise<void> {
    this.state = 'starting';
    const torn = this.startAbort.signal;
    if (this.options.client) this.client = this.options.client;
    else {
      this.client = await KubeClient.load(this.options.kubeconfig, {
        fieldManager: 'ci-fixer',
        context: this.options.context,
      });
      this.ownsClient = true;
    }
    if (torn.aborted) throw this.tornDownWhileStarting();
    const spec: SandboxJobSpec = {
      name: this.jobName,
      namespace: this.namespace,
      image: this.image,
      resources: this.options.resources,
      gpus: this.options.gpus,
      activeDeadlineSeconds: this.options.activeDeadlineSeconds,
      ttlSecondsAfterFinished: this.options.ttlSecondsAfterFinished,
      serviceAccountName: this.options.serviceAccountName,
      workdir: this.options.workdir,
      labels: this.options.labels,
      nodeSelector: this.options.nodeSelector,
      ownerReferences: this.options.ownerReferences,
    };
    trackOpenSandbox(this);
    this.jobRequested = true;
    try {
      await this.client.create(sandboxJob(spec));
    } catch (err) {
      // The teardown that interrupted the start deletes the Job, should it exist after all.
      if (torn.aborted) throw this.tornDownWhileStarting();
      untrackSandbox(this);
      this.state = 'closed';
      this.closeClient();
      throw new SandboxStartError(
        `sandbox ${this.namespace}/${this.jobName}: could not create its Job: ${(err as Error).message}`,
      );
    }
    let pod: string;
    try {
      pod = await this.waitForPod(this.client, torn);
    } catch (err) {
      if (torn.aborted) throw this.tornDownWhileStarting();
      // Not 'starting' any more, so this teardown does not wait for the start it is part of.
      this.state = 'closing';
      await this.teardown().catch(() => {});
      throw new SandboxStartError(`sandbox ${this.namespace}/${this.jobName}: ${(err as Error).message}`);
    }
    if (torn.aborted) throw this.tornDownWhileStarting();
    this.pod = pod;
    this.state = 'ready';
  }

  private async waitForPod(client: KubeClient, torn: AbortSignal): Promise<string> {
    const timeoutMs = this.options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const onTorn = () => abort.abort();
    torn.addEventListener('abort', onTorn, { once: true });
    try {
      const outcome = await watchUntil(
        client,
        Pods,
        { namespace: this.namespace, labelSelector: `job-name=${this.jobName}`, signal: abort.signal },
        (pod, deleted) => {
          const name = pod.metadata?.name ?? '';
          const p = podProgress(pod);
          if (p.state !== 'pending') return { pod: name, ...p };
          // Evicted or deleted while starting (a drain during the image pull, say): with
          // backoffLimit 0 no other Pod comes, so say so now rather than at the start-up timeout.
          if (deleted || pod.metadata?.deletionTimestamp) {
            const lost = podLoss(pod) ?? `pod ${name} was deleted`;
            return { pod: name, state: 'failed' as const, reason: `${lost} before it was Running` };
          }
          return undefined;
        },
      );
      if (outcome.state === 'failed') throw new Error(outcome.reason);
      return outcome.pod;
    } catch (err) {
      if (!abort.signal.aborted || torn.aborted) throw err;
      throw new Error(await this.startupTimeoutReason(client, timeoutMs));
    } finally {
      clearTimeout(timer);
      torn.removeEventListener('abort', onTorn);
    }
  }

  /** Why the pod did not come up in time, as precisely as the Job and Pod tell. */
  private async startupTimeoutReason(client: KubeClient, timeoutMs: number): Promise<string> {
    const prefix = `its Pod was not Running within ${timeoutMs} ms`;
    const job = await client.find(Jobs, this.jobName, this.namespace).catch(() => undefined);
    const finished = job && jobFailure(job);
    if (finished) return `${prefix}: ${finished}`;
    const pods = await client
      .list(Pods, { namespace: this.namespace, labelSelector: `job-name=${this.jobName}` })
      .catch(() => undefined);
    if (pods && pods.items.length === 0) {
      const sa = this.options.serviceAccountName ?? 'ci-fixer-sandbox';
      return (
        `${prefix}: the Job created no Pod (does ServiceAccount ${sa} exist in ${this.namespace}? ` +
        `helm install ci-fixer ./chart -n ${this.namespace}; \`kubectl describe job\` shows the reason)`
      );
    }
    const phase = pods?.items[0]?.status?.phase;
    return `${prefix} (pod ${pods?.items[0]?.metadata?.name ?? '?'} is ${phase ?? 'Pending'})`;
  }

  private ready(): { client: KubeClient; pod: string } {
    if (this.lostReason) {
      throw new SandboxLostError(
        `sandbox ${this.jobName} is unusable: ${this.lostReason}, and the files and processes of earlier commands went with it`,
        this.lostReason,
      );
    }
    if (this.state !== 'ready' || !this.client || !this.pod) {
      throw new SandboxStateError(
        this.state === 'new' || this.state === 'starting'
          ? `sandbox ${this.jobName} is not initialised: await init() first`
          : `sandbox ${this.jobName} was torn down`,
      );
    }
    return { client: this.client, pod: this.pod };
  }

  /**
   * Runs a shell command line in the sandbox and resolves when it has finished. A non-zero exit
   * is returned, not thrown; at the timeout the command and its children are stopped.
   */
  async runCommand(command: string, opts: RunCommandOptions = {}): Promise<CommandResult> {
    const timeoutMs = opts.timeoutMs ?? this.options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!(timeoutMs >= 1 && timeoutMs <= MAX_COMMAND_TIMEOUT_MS)) {
      throw new TypeError(
        `runCommand: timeoutMs must be from 1 to ${MAX_COMMAND_TIMEOUT_MS} (about 24 days), got ${timeoutMs}`,
      );
    }
    const { client, pod } = this.ready();
    const cap = opts.maxOutputBytes ?? this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    if (!Number.isInteger(cap) || cap < 1) {
      throw new TypeError(`runCommand: maxOutputBytes must be a whole number ≥ 1, got ${cap}`);
    }
    const argv = commandArgv({ command, cwd: opts.cwd, env: opts.env, timeoutMs });
    const started = performance.now();
    const live = opts.onOutput && new LiveOutput(opts.onOutput);
    const r = await this.exec(client, pod, argv, {
      stdin: opts.stdin,
      timeoutMs: timeoutMs + EXEC_GRACE_MS,
      maxOutputBytes: cap,
      ...(live ? { onOutput: (stream: OutputStream, chunk: Buffer) => live.push(stream, chunk) } : {}),
    });
    // 124 (TERM) or 137 (the follow-up KILL) from `timeout`, once the time is really up.
    const timedOut =
      (r.exitCode === TIMEOUT_EXIT_CODE || r.exitCode === 137) && performance.now() - started >= timeoutMs;
    let stderr = capOutput(r.stderr, cap, r.truncated);
    if (timedOut) stderr += `\n[command timed out after ${timeoutMs} ms and was stopped]\n`;
    const stdout = capOutput(r.stdout, cap, r.truncated);
    live?.end({ stdout, stderr });
    return {
      stdout,
      stderr,
      exitCode: timedOut ? TIMEOUT_EXIT_CODE : r.exitCode,
      timedOut,
      truncated: r.truncated,
    };
  }

  /**
   * Execs into the pod while watching it: when the pod is lost (evicted, deleted, its node gone)
   * the exec is ended at once and SandboxLostError names what happened. Else a command would go
   * on in a pod that is stopping and report what it managed, or hang until its timeout.
   */
  private async exec(
    client: KubeClient,
    pod: string,
    argv: string[],
    opts: ExecOptions & { timeoutMs: number; maxOutputBytes: number },
  ) {
    const guard = guardPod(client, this.namespace, pod);
    const abort = new AbortController();
    try {
      const { keepaliveIntervalMs, keepaliveTimeoutMs } = this.options;
      const ran = execInPod(client, this.namespace, pod, argv, {
        container: SANDBOX_CONTAINER,
        ...(keepaliveIntervalMs === undefined ? {} : { keepaliveIntervalMs }),
        ...(keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs }),
        ...opts,
        signal: abort.signal,
      });
      const outcome = await Promise.race([
        ran.then(
          (result) => ({ result }),
          (err: unknown) => ({ err }),
        ),
        guard.lost.then((lost) => ({ lost })),
      ]);
      if ('lost' in outcome) {
        abort.abort();
        throw this.lose(await this.whyLost(client, outcome.lost));
      }
      if ('err' in outcome) {
        // A stream broken by the pod's end: name that, not the stream's error.
        await within(guard.checked, GUARD_CHECK_WAIT_MS);
        if (guard.loss) throw this.lose(await this.whyLost(client, guard.loss));
        if (outcome.err instanceof ExecStalledError) {
          const message = `sandbox ${this.jobName}: ${outcome.err.message}`;
          throw new SandboxStalledError(message, outcome.err.silentMs, { cause: outcome.err });
        }
        if (outcome.err instanceof ExecError) {
          throw new SandboxStateError(`sandbox ${this.jobName}: ${outcome.err.message}`);
        }
        throw outcome.err;
      }
      if (guard.loss) throw this.lose(await this.whyLost(client, guard.loss));
      return outcome.result;
    } finally {
      guard.stop();
    }
  }

  /**
   * Why the pod was lost, as its Job tells when the Job ended it: at the sandbox's deadline the Job
   * controller deletes the pod, which alone would read as a deletion by someone. The controller
   * deletes the pod before it marks the Job, so when the deadline is due the mark is waited for.
   */
  private async whyLost(client: KubeClient, podReason: string): Promise<string> {
    const jobEndOf = async () => {
      const job = await client.find(Jobs, this.jobName, this.namespace);
      const end = job && jobEnd(job);
      return { job, end };
    };
    let { job, end } = await jobEndOf().catch(() => ({ job: undefined, end: undefined }));
    const seconds = job?.spec?.activeDeadlineSeconds;
    const started = Date.parse(job?.status?.startTime ?? '');
    // Clocks differ between machines: "due" allows for a few seconds of that.
    const due = seconds !== undefined && Date.now() >= started + seconds * 1000 - DEADLINE_CLOCK_SLACK_MS;
    if (!end && due) {
      const marked = await waitFor(
        async () => {
          const found = await jobEndOf();
          return found.end ? found : undefined;
        },
        {
          description: `Job ${this.namespace}/${this.jobName} to say why it ended`,
          timeoutMs: DEADLINE_MARK_WAIT_MS,
        },
      ).catch(() => undefined);
      if (marked) ({ job, end } = marked);
    }
    if (!job || end?.reason !== 'DeadlineExceeded') return podReason;
    return (
      `the sandbox's deadline passed (activeDeadlineSeconds ${seconds}; the service's --sandbox-deadline): ` +
      `${jobFailure(job)}, so ${podReason}`
    );
  }

  /**
   * Marks the sandbox lost and starts its teardown: the Job is deleted at once, so no other pod
   * of it runs (a replacement would lack the lost pod's files). teardown() still awaits it.
   */
  private lose(reason: string): SandboxStateError {
    if (this.closing && !this.lostReason) {
      return new SandboxStateError(`sandbox ${this.jobName} was torn down while the command ran`);
    }
    this.lostReason ??= reason;
    this.teardown().catch(() => {
      // Still tracked: a later teardown() or the exit teardown deletes the Job.
    });
    return new SandboxLostError(
      `sandbox ${this.jobName}: ${this.lostReason}, so the command could not finish; the sandbox is unusable (its files and processes went with the pod) and is being torn down`,
      this.lostReason,
    );
  }

  /** Writes a file (parent directories created) by extracting a one-file tar archive in the pod. */
  async writeFile(path: string, content: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    const { client, pod } = this.ready();
    const target = posix.resolve(this.workdir, path);
    const archive = await tarOf(posix.basename(target), Buffer.from(content), opts.mode);
    const r = await this.exec(
      client,
      pod,
      ['sh', '-c', 'mkdir -p -- "$1" && tar -x -m -o -f - -C "$1"', 'sh', posix.dirname(target)],
      { stdin: archive, timeoutMs: DEFAULT_STARTUP_TIMEOUT_MS, maxOutputBytes: 64 * 1024 },
    );
    if (r.exitCode !== 0) {
      throw new SandboxFileError(`writeFile ${target}: ${r.stderr.trim() || `tar exited ${r.exitCode}`}`);
    }
  }

  /** Reads a regular file as UTF-8 text. */
  async readFile(path: string): Promise<string> {
    return (await this.readFileBytes(path)).toString('utf8');
  }

  /**
   * Reads a regular file, packed with tar in the pod (and base64, as exec output is text). A
   * symbolic link is followed: its target's content is read.
   */
  async readFileBytes(path: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const { client, pod } = this.ready();
    const target = posix.resolve(this.workdir, path);
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    const script =
      'if [ -d "$1/$2" ]; then echo "a directory, not a file" >&2; exit 2; fi; ' +
      'if [ ! -f "$1/$2" ]; then echo "no such file" >&2; exit 2; fi; ' +
      'if [ ! -r "$1/$2" ]; then echo "not readable" >&2; exit 2; fi; ' +
      // -h archives a link's target, not the link. The script exits with tar's status, not with
      // base64's (a pipeline's own), so that a failed tar is not taken for an empty file.
      'exec 4>&1; s=$({ { tar -c -h -f - -C "$1" -- "$2"; echo $? >&3; } | base64 >&4; } 3>&1); exit "$s"';
    const r = await this.exec(
      client,
      pod,
      ['sh', '-c', script, 'sh', posix.dirname(target), posix.basename(target)],
      {
        timeoutMs: DEFAULT_STARTUP_TIMEOUT_MS,
        maxOutputBytes: Math.ceil(((maxBytes + 64 * 1024) * 4) / 3) + 1,
      },
    );
    if (r.exitCode !== 0) {
      throw new SandboxFileError(`readFile ${target}: ${r.stderr.trim() || `tar exited ${r.exitCode}`}`);
    }
    if (r.truncated) throw new SandboxFileError(`readFile ${target}: larger than ${maxBytes} bytes`);
    try {
      return (await firstFileOf(Buffer.from(r.stdout, 'base64'))).content;
    } catch (err) {
      throw new SandboxFileError(`readFile ${target}: ${(err as Error).message}`);
    }
  }

  /**
   * Deletes the Job and, through the garbage collector, its Pods, and waits until both are gone.
   * Safe to call more than once, concurrently, or on a sandbox that never started. During init()
   * it stops the start, then deletes the Job if one was created.
   */
  teardown(): Promise<void> {
    if (!this.closing && (this.state === 'new' || this.state === 'closed')) {
      this.state = 'closed';
      return Promise.resolve();
    }
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    const starting = this.state === 'starting';
    this.state = 'closing';
    if (starting) {
      this.startAbort.abort();
      // Let the start stop, so that the Job it may be creating is there to delete.
      await this.startup?.catch(() => {});
    }
    const client = this.client;
    if (client && this.jobRequested) {
      try {
        await client.delete(Jobs, this.jobName, this.namespace, { propagationPolicy: 'Background' });
        const selector = `job-name=${this.jobName}`;
        await waitFor(
          async () =>
            !(await client.find(Jobs, this.jobName, this.namespace)) &&
            (await client.list(Pods, { namespace: this.namespace, labelSelector: selector })).items.length ===
              0,
          {
            description: `Job ${this.namespace}/${this.jobName} and its Pods to be deleted`,
            timeoutMs: TEARDOWN_TIMEOUT_MS,
          },
        );
      } catch (err) {
        // The Job may still be there: the next teardown() tries again, and the sandbox stays
        // tracked, so the exit teardown still deletes it.
        this.closing = undefined;
        throw err;
      }
    }
    this.state = 'closed';
    untrackSandbox(this);
    this.closeClient();
  }

  private closeClient(): void {
    if (this.ownsClient) this.client?.close();
    this.ownsClient = false;
  }
}
