import { type Command, contextFlag, parseDuration, parseInteger, UsageError } from '../cli/command.js';
import { crdsCommand } from '../cli/crds-command.js';
import { startOperator } from '../cli/operator.js';
import { componentLogger } from '../runtime/log.js';
import { DEFAULT_PERFORMER_WORKERS } from './controller.js';
import { hourglassCrds } from './crds.js';
import { BEHAVIOURS, type Behaviour } from './grpc/behaviours.js';
import {
  PENDING_STATUS_DELAY_ENV,
  PENDING_TIMEOUT_ENV,
  WATCH_NAMESPACE_ENV,
  WORKERS_ENV,
} from './operator.js';

const performerServerCommand: Command = {
  name: 'performer-server',
  summary:
    'Run the reference performer: eigenlayer.hourglass.v1.performer.PerformerService and grpc.health.v1 on one port.',
  options: {
    port: { type: 'string', description: 'gRPC port to listen on', default: '9090', env: 'PERFORMER_PORT' },
    host: { type: 'string', description: 'address to listen on', default: '0.0.0.0' },
    behaviour: {
      type: 'string',
      description: `how tasks are answered: ${BEHAVIOURS.join(' | ')} (echo returns the payload, delay echoes after --delay, fail fails every task)`,
      default: 'echo',
      env: 'PERFORMER_BEHAVIOUR',
    },
    delay: { type: 'string', description: 'how long the delay behaviour waits', default: '1s' },
  },
  async run(opts) {
    const behaviour = opts['behaviour'] as string;
    if (!BEHAVIOURS.includes(behaviour as Behaviour))
      throw new UsageError(`--behaviour: "${behaviour}" is not one of ${BEHAVIOURS.join(', ')}`);
    // gRPC is loaded by the commands that speak it, not by every start of tutti.
    const { startPerformerServer } = await import('./grpc/performer-server.js');
    const server = await startPerformerServer({
      port: parseInteger(opts['port'] as string, 'port', 0, 65535),
      host: opts['host'] as string,
      behaviour: behaviour as Behaviour,
      delayMs: parseDuration(opts['delay'] as string, 'delay'),
    });
    process.stdout.write(`performer server listening on port ${server.port}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  },
};

const operatorCommand: Command = {
  name: 'hourglass-operator',
  summary:
    'Run the Performer operator alone: `tutti operator --module hourglass` with leader election on by default.',
  options: {
    kubeconfig: {
      type: 'string',
      description: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
    },
    context: contextFlag,
    'health-port': {
      type: 'string',
      description: 'port of /healthz, /readyz and /metrics (0 picks one)',
      default: '8081',
      env: 'HOURGLASS_HEALTH_PORT',
    },
    'leader-elect': {
      type: 'boolean',
      description: 'elect one active replica on a Lease',
      default: true,
      env: 'HOURGLASS_LEADER_ELECT',
    },
    'leader-election-namespace': {
      type: 'string',
      description: 'namespace of the leader-election Lease',
      default: 'hourglass-system',
      env: 'HOURGLASS_NAMESPACE',
    },
    'watch-namespace': {
      type: 'string',
      description: 'reconcile Performers in this namespace only (default: every namespace)',
      env: WATCH_NAMESPACE_ENV,
    },
    'pending-timeout': {
      type: 'string',
      description: 'recreate a performer Pod Pending longer than this (with backoff)',
      default: '5m',
      env: PENDING_TIMEOUT_ENV,
    },
    'pending-status-delay': {
      type: 'string',
      description:
        "how long a Performer whose Pod is merely starting reads only the CRD's default (phase Pending) before its conditions are written; problems are written at once (0 writes at once)",
      default: '10s',
      env: PENDING_STATUS_DELAY_ENV,
    },
    workers: {
      type: 'string',
      description: 'Performers reconciled at once; each reconcile mostly waits on the API server',
      default: String(DEFAULT_PERFORMER_WORKERS),
      env: WORKERS_ENV,
    },
    // The chart ships the CRD; installing it needs rights the operator's role does not have.
    'install-crds': {
      type: 'boolean',
      description: 'install the CRDs from config/crd at start',
      default: false,
    },
  },
  async run(o) {
    const watch = o['watch-namespace'] as string | undefined;
    if (watch) process.env[WATCH_NAMESPACE_ENV] = watch;
    const pending = o['pending-timeout'] as string;
    parseDuration(pending, 'pending-timeout'); // fail on a bad value before connecting
    process.env[PENDING_TIMEOUT_ENV] = pending;
    const statusDelay = o['pending-status-delay'] as string;
    parseDuration(statusDelay, 'pending-status-delay');
    process.env[PENDING_STATUS_DELAY_ENV] = statusDelay;
    const workers = o['workers'] as string;
    parseInteger(workers, 'workers', 1, 1024);
    process.env[WORKERS_ENV] = workers;
    // As `tutti operator --module hourglass` starts: Ctrl-C during the start calls it off (exit 130).
    await startOperator({
      kubeconfig: o['kubeconfig'] as string | undefined,
      context: o['context'] as string | undefined,
      systemNamespace: o['leader-election-namespace'] as string,
      healthPort: parseInteger(o['health-port'] as string, 'health-port', 0, 65535),
      leaderElection: o['leader-elect'] as boolean,
      only: ['hourglass'],
      installCrds: o['install-crds'] as boolean,
    });
    // Runs until SIGTERM/SIGINT, which the manager handles.
    await new Promise(() => {});
    return 0;
  },
};

const executorCommand: Command = {
  name: 'executor',
  summary:
    "Run an AVS executor: deploy each configured AVS's performer blue-green as a Performer, and run submitted tasks on it (gRPC ExecutorService).",
  options: {
    config: {
      type: 'string',
      description: 'executor config file (YAML; see docs/hourglass.md)',
      env: 'HOURGLASS_EXECUTOR_CONFIG',
    },
    'data-dir': {
      type: 'string',
      description: 'directory for the state kept across restarts (the StatefulSet volume)',
      default: 'hourglass-executor-data',
      env: 'HOURGLASS_EXECUTOR_DATA_DIR',
    },
    kubeconfig: {
      type: 'string',
      description:
        "kubeconfig to use (default: the config's kubernetes.kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster)",
    },
    context: {
      ...contextFlag,
      description:
        "kubeconfig context to use (default: the config's kubernetes.context, else the current-context)",
    },
    'task-port': { type: 'string', description: "port of the task API (default: the config's grpcPort)" },
    'health-port': {
      type: 'string',
      description: 'port of /healthz, /readyz and /metrics (0 picks one)',
      default: '8080',
      env: 'HOURGLASS_EXECUTOR_HEALTH_PORT',
    },
    'performer-endpoint': {
      type: 'string',
      description:
        'dial every performer at this host:port instead of its cluster DNS name (outside the cluster, e.g. a port-forward)',
    },
  },
  async run(o) {
    const configPath = o['config'] as string | undefined;
    if (!configPath) throw new UsageError('--config is required: the executor config file');
    const override = o['performer-endpoint'] as string | undefined;
    if (override !== undefined && !/^[^\s:]+:\d+$/.test(override))
      throw new UsageError(`--performer-endpoint: "${override}" is not host:port`);
    const [{ Executor }, { startTaskServer }, { endpointResolver }] = await Promise.all([
      import('./executor/executor.js'),
      import('./executor/task-server.js'),
      import('./grpc/endpoint-resolver.js'),
    ]);
    const taskPortFlag = o['task-port'] as string | undefined;
    const taskPort = taskPortFlag ? parseInteger(taskPortFlag, 'task-port', 0, 65535) : undefined;
    const executor = new Executor({
      configPath,
      dataDir: o['data-dir'] as string,
      kubeconfig: o['kubeconfig'] as string | undefined,
      context: o['context'] as string | undefined,
      healthPort: parseInteger(o['health-port'] as string, 'health-port', 0, 65535),
      ...(override ? { endpointResolver: endpointResolver({ override: () => override }) } : {}),
    });
    // Every port is bound and the kubeconfig loaded before anything is deployed: a failure
    // exits with nothing left running.
    await executor.prepare();
    let tasks: Awaited<ReturnType<typeof startTaskServer>>;
    try {
      tasks = await startTaskServer(executor, { port: taskPort ?? executor.currentConfig.grpcPort });
    } catch (err) {
      await executor.stop().catch(() => {}); // the bind failure is the one to report
      throw err;
    }
    await executor.start();
    componentLogger('hourglass-executor').info(
      {
        taskPort: tasks.port,
        healthPort: executor.healthPort,
        avs: executor.currentConfig.avsPerformers.map((p) => p.avsAddress),
      },
      'executor running',
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    // Tasks in flight finish; the Performers stay up for the next start to adopt.
    await Promise.all([tasks.close(), executor.stop()]);
    return 0;
  },
};

/** The hourglass module's `tutti` subcommands. */
export const hourglassCommands: Command[] = [
  crdsCommand(
    'hourglass',
    'Print the Performer CRD, or write it into a directory (config/crd).',
    hourglassCrds,
  ),
  performerServerCommand,
  operatorCommand,
  executorCommand,
];
