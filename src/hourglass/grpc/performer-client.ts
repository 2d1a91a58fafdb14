import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';
import { CircuitOpenError, PerformerUnavailableError, TaskFailedError } from './errors.js';
import {
  HealthClient,
  PerformerServiceClient,
  type ServingStatus,
  type TaskResponseMessage,
} from './proto.js';
import { backoffDelay, isRetryable, type RetryPolicy, retryPolicy } from './retry.js';

export interface PerformerClientOptions {
  retry?: Partial<RetryPolicy>;
  circuitBreaker?: Partial<CircuitBreakerOptions>;
  /** Called after each failed try that will be retried; for logs and metrics. */
  onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
}

export interface Task {
  taskId: string;
  payload: Uint8Array | string;
}

export interface CallOptions {
  /** When the caller stops waiting (ms since the epoch): no try outlasts it, and none starts after. */
  deadline?: number;
}

export interface TaskResult {
  taskId: string;
  result: Buffer;
}

/** Connection statistics, for status reports. */
export interface ConnectionStats {
  endpoint: string;
  circuit: CircuitState;
  consecutiveFailures: number;
  calls: number;
  retries: number;
  lastError?: string;
}

/**
 * A gRPC client of one performer (`PerformerService` and `grpc.health.v1`): each call is retried
 * with exponential backoff on UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and broken
 * connections, never on the task's own failure, and goes through a circuit breaker.
 */
export class PerformerClient {
  readonly policy: RetryPolicy;
  readonly breaker: CircuitBreaker;
  private readonly service: grpc.Client;
  private readonly health: grpc.Client;
  private calls = 0;
  private retries = 0;
  private lastError: string | undefined;

  constructor(
    readonly endpoint: string,
    private readonly opts: PerformerClientOptions = {},
  ) {
    if (!/^[^\s:]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(endpoint))
      throw new Error(`performer endpoint "${endpoint}" is not host:port`);
    this.policy = retryPolicy(opts.retry);
    this.breaker = new CircuitBreaker(opts.circuitBreaker);
    // The channel reconnects on the same schedule as the retries, so that a restarted performer
    // is reached by the next try rather than after gRPC's own (up to 120 s) backoff.
    const channelOptions: grpc.ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': Math.max(1, this.policy.initialDelayMs),
      'grpc.max_reconnect_backoff_ms': Math.max(1, this.policy.maxDelayMs),
    };
    const credentials = grpc.credentials.createInsecure();
    this.service = new PerformerServiceClient(endpoint, credentials, channelOptions);
    this.health = new HealthClient(endpoint, credentials, channelOptions);
  }

  get stats(): ConnectionStats {
    return {
      endpoint: this.endpoint,
      circuit: this.breaker.state,
      consecutiveFailures: this.breaker.failures,
      calls: this.calls,
      retries: this.retries,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  async executeTask(task: Task, opts: CallOptions = {}): Promise<TaskResult> {
    if (!task.taskId) throw new Error('a task needs a taskId');
    const request = { taskId: Buffer.from(task.taskId), payload: Buffer.from(task.payload) };
    try {
      const res = await this.withRetries(
        (deadline) => unary<TaskResponseMessage>(this.service, 'ExecuteTask', request, deadline),
        opts.deadline,
      );
      return { taskId: res.taskId.toString(), result: res.result };
    } catch (err) {
      if (err instanceof PerformerUnavailableError || err instanceof CircuitOpenError) throw err;
      const e = err as grpc.ServiceError;
      throw new TaskFailedError(task.taskId, e.code, e.details ?? e.message);
    }
  }

  async startSync(): Promise<void> {
    await this.withRetries((deadline) => unary(this.service, 'StartSync', {}, deadline));
  }

  /** One `grpc.health.v1` Check, without retries: the state right now. */
  async checkHealth(service = ''): Promise<ServingStatus> {
    const deadline = Date.now() + this.policy.attemptTimeoutMs;
    const res = await unary<{ status: ServingStatus }>(this.health, 'Check', { service }, deadline);
    return res.status;
  }

  close(): void {
    this.service.close();
    this.health.close();
  }

  private async withRetries<T>(
    call: (deadline: number) => Promise<T>,
    callerDeadline = Infinity,
  ): Promise<T> {
    this.calls++;
    for (let attempt = 1; ; attempt++) {
      if (!this.breaker.tryAcquire()) throw new CircuitOpenError(this.endpoint, this.breaker.retryInMs());
      const ownDeadline = Date.now() + this.policy.attemptTimeoutMs;
      try {
        const result = await call(Math.min(ownDeadline, callerDeadline));
        this.breaker.recordSuccess();
        this.lastError = undefined;
        return result;
      } catch (err) {
        if (!isRetryable(err)) {
          // The performer answered: the connection is healthy even though the call failed.
          this.breaker.recordSuccess();
          throw err;
        }
        // A try the caller's deadline cut short says nothing of the performer: counted, an
        // impatient caller would open the breaker for every other caller.
        if (
          callerDeadline < ownDeadline &&
          (err as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED
        ) {
          this.breaker.release();
          throw new PerformerUnavailableError(this.endpoint, attempt, err);
        }
        this.breaker.recordFailure();
        this.lastError = (err as Error).message;
        const wait = backoffDelay(this.policy, attempt);
        // A try after the caller has given up would run a task whose result no one receives, and
        // that the caller may well submit again.
        if (attempt >= this.policy.maxAttempts || Date.now() + wait >= callerDeadline)
          throw new PerformerUnavailableError(this.endpoint, attempt, err);
        this.retries++;
        this.opts.onRetry?.(attempt, err, wait);
        await delay(wait);
      }
    }
  }
}

/** One unary call of a loaded service client, with a deadline. */
export function unary<T>(
  client: grpc.Client,
  method: string,
  request: unknown,
  deadline: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = (client as unknown as Record<string, grpc.requestCallback<T> & ((...a: unknown[]) => void)>)[
      method
    ]!;
    fn.call(client, request, { deadline }, (err: grpc.ServiceError | null, res?: T) =>
      err ? reject(err) : resolve(res as T),
    );
  });
}
