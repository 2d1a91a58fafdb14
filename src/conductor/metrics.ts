import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../runtime/health-server.js';

/** conductor-loop's metrics, registered once per process on the shared registry. */
export const conductorMetrics = {
  filesSeen: new Counter({
    name: 'conductor_files_seen_total',
    help: 'Intent files read from the handoff directory (each new content once).',
    registers: [metricsRegistry],
  }),
  intentsSubmitted: new Counter({
    name: 'conductor_intents_submitted_total',
    help: 'Intents submitted as NetworkIntent resources, by result (created, exists).',
    labelNames: ['result'],
    registers: [metricsRegistry],
  }),
  validationFailures: new Counter({
    name: 'conductor_validation_failures_total',
    help: 'Intent files rejected before submission, by reason (InvalidJSON, ValidationFailed, …).',
    labelNames: ['reason'],
    registers: [metricsRegistry],
  }),
  submitErrors: new Counter({
    name: 'conductor_submit_errors_total',
    help: 'Failed NetworkIntent submissions, by API reason; retryable ones count each attempt round.',
    labelNames: ['reason'],
    registers: [metricsRegistry],
  }),
  batchSize: new Histogram({
    name: 'conductor_batch_size',
    help: 'Intents per flushed batch.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200],
    registers: [metricsRegistry],
  }),
  fileToCr: new Histogram({
    name: 'conductor_file_to_cr_seconds',
    help: 'From a file being seen to its NetworkIntent existing.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metricsRegistry],
  }),
  queueDepth: new Gauge({
    name: 'conductor_queue_depth',
    help: 'Intents accepted but not yet submitted (batching, in flight, or waiting to retry).',
    registers: [metricsRegistry],
  }),
};
