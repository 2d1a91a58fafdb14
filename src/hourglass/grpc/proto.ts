import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The performer and executor services and gRPC health, from the .proto files beside this module. */
const definition = protoLoader.loadSync(
  ['performer.proto', 'executor.proto', 'health.proto'].map((f) =>
    fileURLToPath(new URL(f, import.meta.url)),
  ),
  { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  eigenlayer: {
    hourglass: {
      v1: {
        performer: { PerformerService: grpc.ServiceClientConstructor };
        executor: { ExecutorService: grpc.ServiceClientConstructor };
      };
    };
  };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

export const PerformerServiceClient = loaded.eigenlayer.hourglass.v1.performer.PerformerService;
export const ExecutorServiceClient = loaded.eigenlayer.hourglass.v1.executor.ExecutorService;
export const HealthClient = loaded.grpc.health.v1.Health;

export interface TaskRequestMessage {
  taskId: Buffer;
  payload: Buffer;
}

export interface TaskResponseMessage {
  taskId: Buffer;
  result: Buffer;
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface SubmitTaskRequestMessage {
  avsAddress: string;
  taskId: Buffer;
  payload: Buffer;
}

export interface SubmitTaskResponseMessage {
  taskId: Buffer;
  result: Buffer;
  performerId: string;
}

export interface PerformerInfoMessage {
  performerId: string;
  avsAddress: string;
  status: string;
  image: string;
  version: string;
  endpoint: string;
  ready: boolean;
}
