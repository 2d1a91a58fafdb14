import * as grpc from '@grpc/grpc-js';
import { CircuitOpenError, PerformerUnavailableError, TaskFailedError } from '../grpc/errors.js';
import { unary } from '../grpc/performer-client.js';
import {
  ExecutorServiceClient,
  type PerformerInfoMessage,
  type SubmitTaskRequestMessage,
  type SubmitTaskResponseMessage,
} from '../grpc/proto.js';
import { type Executor, UnknownAvsError } from './executor.js';
import { executorTaskDuration, executorTasks } from './executor-metrics.js';

export interface RunningTaskServer {
  readonly port: number;
  /** Refuses new calls and waits for those in flight. */
  close(): Promise<void>;
}

/**
 * The executor's task API: `eigenlayer.hourglass.v1.executor.ExecutorService` (executor.proto).
 * Status codes: NOT_FOUND for an AVS not in the executor's config, UNAVAILABLE when no performer
 * is in service (not yet, or the executor is stopping) or it cannot be reached, ABORTED when the
 * task itself failed.
 */
export async function startTaskServer(
  executor: Executor,
  opts: { port: number; host?: string },
): Promise<RunningTaskServer> {
  const server = new grpc.Server();
  server.addService(ExecutorServiceClient.service, {
    SubmitTask: (
      call: grpc.ServerUnaryCall<SubmitTaskRequestMessage, SubmitTaskResponseMessage>,
      callback: grpc.sendUnaryData<SubmitTaskResponseMessage>,
    ) => {
      const { avsAddress, taskId, payload } = call.request;
      const id = taskId.toString();
      const stopTimer = executorTaskDuration.startTimer();
      // The caller's deadline bounds the retries on the performer (Infinity when it set none).
      const d = call.getDeadline();
      const deadline = d instanceof Date ? d.getTime() : d;
      // The caller's spelling is its own word: as a label it would let any caller add series
      // without end. A configured AVS counts under the config's spelling, any other under ''.
      const avs = executor.configuredAvs(avsAddress) ?? '';
      executor.submitTask(avsAddress, { taskId: id, payload }, { deadline }).then(
        (r) => {
          stopTimer({ avs });
          executorTasks.inc({ avs, result: 'ok' });
          callback(null, { taskId, result: r.result, performerId: r.performerId });
        },
        (err: Error) => {
          const [code, result] = statusOf(err);
          stopTimer({ avs });
          executorTasks.inc({ avs, result });
          callback({ code, details: err.message, name: err.name, message: err.message });
        },
      );
    },
    ListPerformers: (_call: unknown, callback: grpc.sendUnaryData<{ performers: PerformerInfoMessage[] }>) =>
      callback(null, {
        performers: executor.performers().map((p) => ({
          performerId: p.performerId,
          avsAddress: p.avsAddress,
          status: p.status,
          image: p.image,
          version: p.version ?? '',
          endpoint: p.endpoint,
          ready: p.ready,
        })),
      }),
  });
  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err
        ? reject(new Error(`executor task API: cannot listen on ${host}:${opts.port}: ${err.message}`))
        : resolve(p),
    ),
  );
  return { port, close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

function statusOf(err: Error): [grpc.status, string] {
  if (err instanceof UnknownAvsError) return [grpc.status.NOT_FOUND, 'unknown_avs'];
  if (err instanceof TaskFailedError) return [grpc.status.ABORTED, 'failed'];
  if (err instanceof PerformerUnavailableError || err instanceof CircuitOpenError)
    return [grpc.status.UNAVAILABLE, 'unavailable'];
  // No performer in service yet, or the executor or this AVS's performers are stopping.
  return [grpc.status.UNAVAILABLE, 'unavailable'];
}

/** A client of the executor's task API, for tools and tests. */
export class ExecutorClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new ExecutorServiceClient(address, grpc.credentials.createInsecure());
  }

  async submitTask(
    avsAddress: string,
    taskId: string,
    payload: Uint8Array | string,
    deadlineMs = 60_000,
  ): Promise<{ taskId: string; result: Buffer; performerId: string }> {
    const res = await unary<SubmitTaskResponseMessage>(
      this.client,
      'SubmitTask',
      { avsAddress, taskId: Buffer.from(taskId), payload: Buffer.from(payload) },
      Date.now() + deadlineMs,
    );
    return { taskId: res.taskId.toString(), result: res.result, performerId: res.performerId };
  }

  async listPerformers(deadlineMs = 10_000): Promise<PerformerInfoMessage[]> {
    const res = await unary<{ performers: PerformerInfoMessage[] }>(
      this.client,
      'ListPerformers',
      {},
      Date.now() + deadlineMs,
    );
    return res.performers;
  }

  close(): void {
    this.client.close();
  }
}
