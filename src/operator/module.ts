import type { Manager } from '../runtime/manager.js';

/** What a module's controllers get when `tutti operator` (or `tutti up`) sets them up. */
export interface OperatorContext {
  readonly mgr: Manager;
  /** Namespace Tutti's own objects (leases, defaults) live in. */
  readonly systemNamespace: string;
}

/** A module's contribution to the operator process: its controllers and runnables. */
export interface OperatorModule {
  readonly name: string;
  setup(ctx: OperatorContext): void | Promise<void>;
}
