import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunScheduler } from './runs.js';

/** The ci-fixer's own metrics, in a registry per service so several can run in one process. */
export function serviceMetrics(scheduler: () => RunScheduler) {
  const registry = new Registry();
  const runsTotal = new Counter({
    name: 'ci_fixer_runs_total',
    help: 'CI runs finished, by result (succeeded, failed, error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const runDuration = new Histogram({
    name: 'ci_fixer_run_duration_seconds',
    help: 'Time from a run starting (sandbox creation) to its result.',
    buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  new Gauge({
    name: 'ci_fixer_runs_active',
    help: 'Runs with a sandbox right now.',
    registers: [registry],
    collect() {
      this.set(scheduler().activeCount);
    },
  });
  new Gauge({
    name: 'ci_fixer_runs_queued',
    help: 'Runs waiting for a free sandbox slot.',
    registers: [registry],
    collect() {
      this.set(scheduler().queuedCount);
    },
  });
  new Gauge({
    name: 'ci_fixer_history_output_bytes',
    help: 'Output held by the finished runs kept in the history (UTF-8 bytes).',
    registers: [registry],
    collect() {
      this.set(scheduler().retainedHistoryBytes);
    },
  });
  const forgotten = new Counter({
    name: 'ci_fixer_runs_forgotten_total',
    help: 'Finished runs dropped from the history, by reason: history (run count), history-bytes (their output).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'ci_fixer_output_dropped_bytes_total',
    help: "Output streamed but not kept, past a run's output limit (UTF-8 bytes).",
    registers: [registry],
  });
  const streamsDropped = new Counter({
    name: 'ci_fixer_event_streams_dropped_total',
    help: 'Event streams disconnected because their client fell too far behind (unsent events past the limit).',
    registers: [registry],
  });
  return {
    registry,
    eventStreamDropped() {
      streamsDropped.inc();
    },
    runFinished(result: string, seconds: number) {
      runsTotal.inc({ result });
      runDuration.observe(seconds);
    },
    runForgotten(reason: string) {
      forgotten.inc({ reason });
    },
    outputDropped(bytes: number) {
      dropped.inc(bytes);
    },
  };
}
