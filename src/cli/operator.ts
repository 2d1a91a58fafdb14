import { operatorModules } from '../operator/modules.js';
import { type OperatorOptions, runOperator } from '../operator/run.js';
import { componentLogger, flushLogs, LOG_FORMATS, type LogFormat, setLogFormat } from '../runtime/log.js';
import type { Manager } from '../runtime/manager.js';
import { Interrupted } from './cluster.js';
import type { Command, OptionSpec, OptionValues } from './command.js';
import { contextFlag, parseInteger, UsageError } from './command.js';

/** `--log-format`, on the commands that run controllers. */
export const logFormatOption: Record<string, OptionSpec> = {
  'log-format': {
    type: 'string',
    description: `log lines on stderr: ${LOG_FORMATS.join(' or ')}; unset, text on a terminal and json elsewhere, as in a Pod; TUTTI_LOG_LEVEL sets the level`,
    env: 'TUTTI_LOG_FORMAT',
  },
};

/** Applies `--log-format` (or TUTTI_LOG_FORMAT); a format that is none is the user's to fix. */
export function useLogFormat(o: OptionValues): void {
  const f = o['log-format'] as string | undefined;
  if (f === undefined) return;
  if (!LOG_FORMATS.includes(f as LogFormat)) {
    throw new UsageError(`--log-format: "${f}" is no log format; choose ${LOG_FORMATS.join(' or ')}`);
  }
  setLogFormat(f as LogFormat);
}

/** After this long without its caches synced, a start says what it still waits for. */
const SLOW_START_MS = 30_000;
/** What calls a start off, as they stop a running operator. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * `runOperator`, where Ctrl-C or SIGTERM before it is running calls the start off: what has
 * started stops (the manager, its informers, health server and any lease it won) and the command
 * ends with a message and exit code 130, as an interrupted `tutti cluster up` does (without this
 * the signal ends the process silently, halfway through installing the CRDs). A second signal
 * meanwhile ends the process at once. Once it runs, the manager's own handlers stop it gracefully.
 */
export async function startOperator(
  opts: OperatorOptions,
  // In a Pod, its log: lines like every other.
  say: (m: string) => void = (m) => componentLogger('operator').info(m),
): Promise<Manager> {
  const abort = new AbortController();
  const forceExit = () => process.exit(130);
  const onSignal = (sig: NodeJS.Signals) => {
    // Stopping waits on the API server; one who asks again does not want to wait.
    for (const s of STOP_SIGNALS) {
      process.off(s, onSignal);
      process.once(s, forceExit);
    }
    say(`${sig}: stopping Tutti before it was running`);
    // What was logged so far comes before the command's last word.
    flushLogs();
    abort.abort(new Interrupted('interrupted while Tutti started; it is stopped (CRDs it installed stay)'));
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  let mgr: Manager | undefined;
  const slow = setTimeout(() => {
    const waiting = mgr?.unsynced() ?? [];
    say(
      `still starting after ${SLOW_START_MS / 1000} s: ` +
        (!mgr
          ? 'still reaching the API server and installing the CRDs (is it answering?)'
          : waiting.length
            ? `the caches have not synced: ${waiting.join('; ')} (the warnings logged say why)`
            : 'the caches have just synced'),
    );
  }, SLOW_START_MS);
  try {
    const running = await runOperator({
      ...opts,
      signal: abort.signal,
      onManager: (m) => {
        mgr = m;
        opts.onManager?.(m);
      },
    });
    // From here a signal stops it gracefully, as a running operator.
    running.stopOnSignals();
    return running;
  } catch (err) {
    // What the stop logged comes before the command's last word.
    flushLogs();
    throw err;
  } finally {
    clearTimeout(slow);
    for (const s of STOP_SIGNALS) {
      process.off(s, onSignal);
      process.off(s, forceExit);
    }
  }
}

export const operatorOptions: Record<string, OptionSpec> = {
  kubeconfig: {
    type: 'string',
    description: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
  },
  context: contextFlag,
  'system-namespace': {
    type: 'string',
    description: "namespace of Tutti's own objects (leases)",
    default: 'tutti-system',
    env: 'TUTTI_SYSTEM_NAMESPACE',
  },
  'health-port': {
    type: 'string',
    description: 'port of /healthz, /readyz and /metrics (0 picks one)',
    default: '8081',
    env: 'TUTTI_HEALTH_PORT',
  },
  'leader-elect': {
    type: 'boolean',
    description: 'elect a leader among replicas on a Lease',
    default: true,
    env: 'TUTTI_LEADER_ELECT',
  },
  module: {
    type: 'string',
    multiple: true,
    description: `run only this module (repeatable; default all): ${operatorModules.map((m) => m.name).join(', ')}`,
  },
  'install-crds': {
    type: 'boolean',
    description: 'install the CRDs from config/crd at start',
    default: true,
  },
};

export const operatorCommand: Command = {
  name: 'operator',
  summary: "Run every module's controllers in one process, with leader election, health and metrics.",
  // Modules' own flags (e.g. conductor's --a1-endpoint) sit beside the operator's.
  options: Object.assign(
    {},
    operatorOptions,
    logFormatOption,
    ...operatorModules.map((m) => m.options ?? {}),
  ),
  async run(o) {
    useLogFormat(o);
    await startOperator({
      kubeconfig: o['kubeconfig'] as string | undefined,
      context: o['context'] as string | undefined,
      systemNamespace: o['system-namespace'] as string,
      healthPort: parseInteger(o['health-port'] as string, 'health-port', 0, 65535),
      leaderElection: o['leader-elect'] as boolean,
      only: (o['module'] as string[] | undefined) ?? [],
      installCrds: o['install-crds'] as boolean,
      moduleOptions: o,
    });
    // Runs until SIGTERM/SIGINT, which the manager handles.
    await new Promise(() => {});
    return 0;
  },
};
