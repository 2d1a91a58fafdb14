import { fileURLToPath } from 'node:url';
import { type OptionValues, UsageError } from '../cli/command.js';
import { KubeClient } from '../runtime/client/client.js';
import { AlreadyExistsError, ForbiddenError } from '../runtime/client/errors.js';
import { CRD_DIR, installCrds, readCrds } from '../runtime/crds.js';
import { componentLogger } from '../runtime/log.js';
import { Manager } from '../runtime/manager.js';
import { closest } from '../runtime/suggest.js';
import type { OperatorModule } from './module.js';
import { operatorModules } from './modules.js';

export interface OperatorOptions {
  kubeconfig?: string;
  /** The kubeconfig's context; its current-context when absent. */
  context?: string;
  systemNamespace: string;
  healthPort: number;
  leaderElection: boolean;
  /** Module names to run; all when empty. */
  only: readonly string[];
  installCrds: boolean;
  /** Parsed flags for the modules that declare options of their own. */
  moduleOptions?: OptionValues;
  /** Called with the manager once the modules are set up, before it starts. */
  onManager?: (mgr: Manager) => void;
  /**
   * Calls the start off: what has started stops (the manager too, releasing a lease it won), the
   * client is closed, and runOperator rejects with the signal's reason. With it, signals are the
   * caller's to handle, and to hand to the manager (`stopOnSignals()`) once it runs; without it,
   * the manager handles them from its start.
   */
  signal?: AbortSignal;
}

/** Runs the selected modules' controllers in one manager until SIGTERM. */
export async function runOperator(opts: OperatorOptions): Promise<Manager> {
  const selected = selectedModules(opts);
  opts.signal?.throwIfAborted();
  const client = await KubeClient.load(opts.kubeconfig, {
    fieldManager: 'tutti-operator',
    context: opts.context,
  });
  try {
    return await startOn(client, selected, opts);
  } catch (err) {
    // Nothing of a start that failed or was called off may keep the process alive.
    client.close();
    throw opts.signal?.aborted ? opts.signal.reason : err;
  }
}

/** The modules `--module` names (all when none), their flags checked; a mistyped one is a UsageError. */
function selectedModules(opts: OperatorOptions): OperatorModule[] {
  // A mistyped module is the user's to fix before anything connects anywhere.
  const unknown = opts.only.filter((n) => !operatorModules.some((m) => m.name === n));
  if (unknown.length) {
    const names = operatorModules.map((m) => m.name);
    const guesses = unknown.map((n) => {
      const guess = closest(n, names);
      return `"${n}"${guess ? ` (did you mean "${guess}"?)` : ''}`;
    });
    throw new UsageError(
      `--module: no module named ${guesses.join(', ')}; choose from ${names.join(', ') || '(none yet)'}`,
    );
  }
  const selected = operatorModules.filter((m) => opts.only.length === 0 || opts.only.includes(m.name));
  for (const m of selected) m.check?.(opts.moduleOptions ?? {});
  return selected;
}

/** Installs the CRDs, sets the modules up on a manager and starts it, all on `client`. */
async function startOn(
  client: KubeClient,
  selected: readonly OperatorModule[],
  opts: OperatorOptions,
): Promise<Manager> {
  const { signal } = opts;
  const log = componentLogger('operator');
  if (opts.installCrds) {
    const crds = await readCrds(fileURLToPath(CRD_DIR));
    await installCrds(client, crds, { signal });
    log.info({ crds: crds.map((c) => c.metadata?.name) }, 'CRDs installed');
  }
  await ensureNamespace(client, opts.systemNamespace, signal);
  const mgr = new Manager({
    client,
    name: 'tutti-operator',
    healthPort: opts.healthPort,
    leaderElection: opts.leaderElection ? { leaseNamespace: opts.systemNamespace } : undefined,
    logger: log,
  });
  try {
    for (const m of selected) {
      signal?.throwIfAborted();
      await m.setup({ mgr, systemNamespace: opts.systemNamespace, options: opts.moduleOptions ?? {} });
    }
  } catch (err) {
    // What the modules set up so far (a server listening, a store open) is released.
    await mgr.stop();
    throw err;
  }
  opts.onManager?.(mgr);
  // Without a caller to handle them, SIGTERM and SIGINT stop the manager from its start on.
  if (!signal) mgr.stopOnSignals();
  // A start that fails or is called off has stopped the manager, and released what the setups opened.
  await mgr.start(signal).catch((err: NodeJS.ErrnoException) => {
    // Most often a second `tutti up` or operator on this machine: say which flag moves it.
    if (err.code !== 'EADDRINUSE') throw err;
    throw new Error(
      `--health-port ${opts.healthPort} is in use (is another Tutti running?); choose another port, or 0 for any free one`,
    );
  });
  log.info({ modules: selected.map((m) => m.name), healthPort: mgr.healthPort }, 'operator running');
  return mgr;
}

/**
 * Creates the namespace of Tutti's own objects unless it exists. A create, not an apply: there is
 * nothing to apply but its name, and a create can be called off.
 */
async function ensureNamespace(
  client: KubeClient,
  name: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { signal });
  } catch (err) {
    if (err instanceof AlreadyExistsError) return;
    // Installed by a chart, the operator may not create namespaces: its own must exist already.
    if (!(err instanceof ForbiddenError)) throw err;
  }
}
