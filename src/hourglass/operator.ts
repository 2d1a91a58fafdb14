import { parseDuration, parseInteger } from '../cli/command.js';
import type { OperatorModule } from '../operator/module.js';
import { DEFAULT_PERFORMER_WORKERS, setupPerformerController } from './controller.js';

/**
 * Limits the operator to one namespace (`tutti hourglass-operator --watch-namespace`). Read from
 * the environment because modules are set up by name, with no flags of their own.
 */
export const WATCH_NAMESPACE_ENV = 'HOURGLASS_WATCH_NAMESPACE';
/** How long a Pod may stay Pending before it is recreated (`--pending-timeout`), e.g. `10m`. */
export const PENDING_TIMEOUT_ENV = 'HOURGLASS_PENDING_TIMEOUT';
/** How long a Performer whose Pod is merely starting goes without conditions (`--pending-status-delay`). */
export const PENDING_STATUS_DELAY_ENV = 'HOURGLASS_PENDING_STATUS_DELAY';
/** Performers reconciled at once (`--workers`). */
export const WORKERS_ENV = 'HOURGLASS_WORKERS';

/** Hourglass in `tutti operator` and `tutti hourglass-operator`: the Performer controller. */
export const hourglassOperatorModule: OperatorModule = {
  name: 'hourglass',
  setup({ mgr }) {
    const namespace = process.env[WATCH_NAMESPACE_ENV];
    const pending = process.env[PENDING_TIMEOUT_ENV];
    const statusDelay = process.env[PENDING_STATUS_DELAY_ENV];
    const workers = process.env[WORKERS_ENV];
    setupPerformerController(mgr, {
      workers: workers ? parseInteger(workers, WORKERS_ENV, 1, 1024) : DEFAULT_PERFORMER_WORKERS,
      ...(namespace ? { namespace } : {}),
      ...(pending ? { pendingTimeoutMs: parseDuration(pending, PENDING_TIMEOUT_ENV) } : {}),
      ...(statusDelay ? { pendingStatusDelayMs: parseDuration(statusDelay, PENDING_STATUS_DELAY_ENV) } : {}),
    });
  },
};
