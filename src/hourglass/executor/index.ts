// The executor SDK: what an executor needs to run AVS performers on Kubernetes.
export * from '../grpc/circuit-breaker.js';
export * from '../grpc/endpoint-resolver.js';
export * from '../grpc/errors.js';
export * from '../grpc/health-monitor.js';
export * from '../grpc/performer-client.js';
export * from '../grpc/retry.js';
export * from './executor.js';
export * from './executor-config.js';
export * from './executor-state.js';
export * from './kubernetes-config.js';
export * from './kubernetes-manager.js';
export * from './kubernetes-performer.js';
export * from './task-server.js';
