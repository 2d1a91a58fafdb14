import { parseDuration } from '../cli/command.js';
import type { OperatorModule } from '../operator/module.js';
import { setupPerformerController } from './controller.js';

/**
 * Limits the operator to one namespace (`tutti hourglass-operator --watch-namespace`). Read from
 * the environment because modules are set up by name, with no flags of their own.
 */
export const WATCH_NAMESPACE_ENV = 'HOURGLASS_WATCH_NAMESPACE';
/** How long a Pod may stay Pending before it is recreated (`--pending-timeout`), e.g. `10m`. */
export const PENDING_TIMEOUT_ENV = 'HOURGLASS_PENDING_TIMEOUT';

/** Hourglass in `tutti operator` and `tutti hourglass-operator`: the Performer controller. */
export const hourglassOperatorModule: OperatorModule = {
  name: 'hourglass',
  setup({ mgr }) {
    const namespace = process.env[WATCH_NAMESPACE_ENV];
    const pending = process.env[PENDING_TIMEOUT_ENV];
    setupPerformerController(mgr, {
      ...(namespace ? { namespace } : {}),
      ...(pending ? { pendingTimeoutMs: parseDuration(pending, PENDING_TIMEOUT_ENV) } : {}),
    });
  },
};
