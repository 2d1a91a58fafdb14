export * from './client.js';
export * from './connection.js';
export * from './discovery.js';
export * from './errors.js';
export * from './exec.js';
export * from './kinds.js';
export * from './transport.js';
export * from './types.js';
