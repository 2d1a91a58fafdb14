import { fileURLToPath } from 'node:url';
import { type OptionValues, UsageError } from '../cli/command.js';
import { KubeClient } from '../runtime/client/client.js';
import { ForbiddenError } from '../runtime/client/errors.js';
import { CRD_DIR, installCrds, readCrds } from '../runtime/crds.js';
import { componentLogger } from '../runtime/log.js';
import { Manager } from '../runtime/manager.js';
import { closest } from '../runtime/suggest.js';
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
}

/** Runs the selected modules' controllers in one manager until SIGTERM. */
export async function runOperator(opts: OperatorOptions): Promise<Manager> {
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
  const log = componentLogger('operator');
  const client = await KubeClient.load(opts.kubeconfig, {
    fieldManager: 'tutti-operator',
    context: opts.context,
  });
  if (opts.installCrds) {
    const crds = await readCrds(fileURLToPath(CRD_DIR));
    await installCrds(client, crds);
    log.info({ crds: crds.map((c) => c.metadata?.name) }, 'CRDs installed');
  }
  try {
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.systemNamespace } });
  } catch (err) {
    // Installed by a chart, the operator may not create namespaces: its own must exist already.
    if (!(err instanceof ForbiddenError)) throw err;
  }
  const mgr = new Manager({
    client,
    name: 'tutti-operator',
    healthPort: opts.healthPort,
    leaderElection: opts.leaderElection ? { leaseNamespace: opts.systemNamespace } : undefined,
    logger: log,
  });
  for (const m of selected) {
    await m.setup({ mgr, systemNamespace: opts.systemNamespace, options: opts.moduleOptions ?? {} });
  }
  opts.onManager?.(mgr);
  mgr.stopOnSignals();
  await mgr.start().catch((err: NodeJS.ErrnoException) => {
    // Most often a second `tutti up` or operator on this machine: say which flag moves it.
    if (err.code !== 'EADDRINUSE') throw err;
    throw new Error(
      `--health-port ${opts.healthPort} is in use (is another Tutti running?); choose another port, or 0 for any free one`,
    );
  });
  log.info({ modules: selected.map((m) => m.name), healthPort: mgr.healthPort }, 'operator running');
  return mgr;
}
