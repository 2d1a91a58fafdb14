import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { componentLogger } from '../../runtime/log.js';
import type { Behaviour } from './behaviours.js';
import {
  HealthClient,
  PerformerServiceClient,
  type ServingStatus,
  type TaskRequestMessage,
  type TaskResponseMessage,
} from './proto.js';

export interface PerformerServerOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  behaviour?: Behaviour;
  delayMs?: number;
}

export interface RunningPerformerServer {
  readonly port: number;
  /** Tasks received, whatever their outcome. */
  readonly tasksReceived: number;
  readonly tasksInFlight: number;
  setServingStatus(status: ServingStatus): void;
  /** Stops taking calls and waits for the ones in flight. */
  close(): Promise<void>;
  /** Stops at once, cutting calls in flight: a crash as clients see it. */
  kill(): void;
}

/** The reference performer: `PerformerService` plus `grpc.health.v1.Health` on one port. */
export async function startPerformerServer(opts: PerformerServerOptions): Promise<RunningPerformerServer> {
  const log = componentLogger('performer-server');
  const behaviour = opts.behaviour ?? 'echo';
  const delayMs = opts.delayMs ?? 1000;
  let servingStatus: ServingStatus = 'SERVING';
  let received = 0;
  let inFlight = 0;
  const server = new grpc.Server();

  server.addService(PerformerServiceClient.service, {
    ExecuteTask: (
      call: grpc.ServerUnaryCall<TaskRequestMessage, TaskResponseMessage>,
      callback: grpc.sendUnaryData<TaskResponseMessage>,
    ) => {
      received++;
      inFlight++;
      const { taskId, payload } = call.request;
      const finish = (err: grpc.ServiceError | null, res?: TaskResponseMessage) => {
        inFlight--;
        callback(err, res);
      };
      if (behaviour === 'fail') {
        finish(
          Object.assign(new Error(`task ${taskId.toString()} failed`), {
            code: grpc.status.INTERNAL,
            details: `task ${taskId.toString()} failed`,
            metadata: new grpc.Metadata(),
          }),
        );
        return;
      }
      const wait = behaviour === 'delay' ? delay(delayMs) : Promise.resolve();
      void wait.then(() => finish(null, { taskId, result: payload }));
    },
    StartSync: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, {}),
    HealthCheck: (_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) =>
      callback(null, { status: servingStatus === 'SERVING' ? 'READY_FOR_TASK' : 'NOT_READY' }),
  });
  server.addService(HealthClient.service, {
    Check: (_call: unknown, callback: grpc.sendUnaryData<{ status: ServingStatus }>) =>
      callback(null, { status: servingStatus }),
    Watch: (call: grpc.ServerWritableStream<unknown, unknown>) =>
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'Watch is not implemented; use Check' }),
  });

  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err
        ? reject(new Error(`performer server: cannot listen on ${host}:${opts.port}: ${err.message}`))
        : resolve(p),
    ),
  );
  log.info({ port, behaviour }, 'performer server listening');
  return {
    port,
    get tasksReceived() {
      return received;
    },
    get tasksInFlight() {
      return inFlight;
    },
    setServingStatus(status) {
      servingStatus = status;
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    kill: () => server.forceShutdown(),
  };
}
