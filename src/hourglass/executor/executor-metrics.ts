import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../../runtime/health-server.js';

// Registered once per process on the shared registry that /metrics serves.
export const executorTasks = new Counter({
  name: 'hourglass_executor_tasks_total',
  help: 'Tasks submitted to the executor, by AVS and outcome (ok, failed, unavailable, unknown_avs)',
  labelNames: ['avs', 'result'],
  registers: [metricsRegistry],
});

export const executorTaskDuration = new Histogram({
  name: 'hourglass_executor_task_duration_seconds',
  help: 'Time from a task being submitted until its result, retries included',
  labelNames: ['avs'],
  buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

export const executorDeployments = new Counter({
  name: 'hourglass_executor_deployments_total',
  help: 'Blue-green deployments of a performer, by AVS and outcome (ok, rolled_back)',
  labelNames: ['avs', 'result'],
  registers: [metricsRegistry],
});

export const executorInService = new Gauge({
  name: 'hourglass_executor_performer_in_service',
  help: '1 while the AVS has an InService performer',
  labelNames: ['avs'],
  registers: [metricsRegistry],
});

export const executorGeneration = new Gauge({
  name: 'hourglass_executor_deployment_generation',
  help: 'Successful deployments so far, across restarts (kept on the data volume)',
  registers: [metricsRegistry],
});

export const executorConfigReloads = new Counter({
  name: 'hourglass_executor_config_reloads_total',
  help: 'Config file changes seen, by outcome (applied, invalid)',
  labelNames: ['result'],
  registers: [metricsRegistry],
});
