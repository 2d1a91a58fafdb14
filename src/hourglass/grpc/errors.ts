import type * as grpc from '@grpc/grpc-js';

/** The performer answered and the task itself failed: not retried, not a connection problem. */
export class TaskFailedError extends Error {
  override name = 'TaskFailedError';
  constructor(
    readonly taskId: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`task ${taskId} failed on the performer: ${details} (gRPC code ${code})`);
  }
}

/** Every attempt failed with a retryable error (or the last one did and no tries were left). */
export class PerformerUnavailableError extends Error {
  override name = 'PerformerUnavailableError';
  constructor(
    readonly endpoint: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `performer at ${endpoint} unavailable after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${
        (cause as Error)?.message ?? String(cause)
      }`,
    );
  }
}

/** The circuit breaker is open: the call was refused without touching the network. */
export class CircuitOpenError extends Error {
  override name = 'CircuitOpenError';
  constructor(
    readonly endpoint: string,
    readonly retryInMs: number,
  ) {
    super(`circuit breaker for ${endpoint} is open after repeated failures; next probe in ${retryInMs} ms`);
  }
}
