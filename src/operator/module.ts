import type { OptionSpec, OptionValues } from '../cli/command.js';
import type { Manager } from '../runtime/manager.js';

/** What a module's controllers get when `tutti operator` (or `tutti up`) sets them up. */
export interface OperatorContext {
  readonly mgr: Manager;
  /** Namespace Tutti's own objects (leases, defaults) live in. */
  readonly systemNamespace: string;
  /** `tutti operator`'s parsed flags, this module's own among them (empty when not run from it). */
  readonly options?: OptionValues;
}

/** A module's contribution to the operator process: its controllers and runnables. */
export interface OperatorModule {
  readonly name: string;
  /** Flags this module adds to `tutti operator`; their values arrive in `OperatorContext.options`. */
  readonly options?: Record<string, OptionSpec>;
  /** Refuses bad values of its flags (a UsageError) before anything connects to the cluster. */
  check?(options: OptionValues): void;
  /**
   * Adds the module's controllers and runnables to `ctx.mgr`. Whatever it opens that outlives a
   * call (a server listening, a database client) it hands to `ctx.mgr.onStop` as soon as it is
   * open: the manager may never start (a later module's setup fails) or its start may fail, and an
   * open handle would keep the process from ending.
   */
  setup(ctx: OperatorContext): void | Promise<void>;
}
