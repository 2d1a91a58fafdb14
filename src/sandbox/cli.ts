import { readFileSync } from 'node:fs';
import type { ResourceRequirements } from 'kubernetes-types/core/v1.js';
import { type Command, contextFlag, parseDuration, parseInteger, UsageError } from '../cli/command.js';
import { KubeClient } from '../runtime/client/client.js';
import { parseQuantity } from '../runtime/quantity.js';
import {
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_PORT,
  DEFAULT_RUN_OUTPUT_BYTES,
  DEFAULT_SANDBOX_IMAGE,
} from './service/defaults.js';
import { formatChecks, verifyDeployment } from './verify.js';

const clusterFlags = {
  kubeconfig: {
    type: 'string',
    description: 'kubeconfig file (else $KUBECONFIG, ~/.kube/config or in-cluster)',
  },
  context: contextFlag,
} as const;

/** The namespace the pod runs in, when in a cluster. */
function inClusterNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return undefined;
  }
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;

function sandboxResources(o: Record<string, unknown>): ResourceRequirements | undefined {
  const out: ResourceRequirements = {};
  for (const [flag, section, resource] of [
    ['sandbox-cpu-request', 'requests', 'cpu'],
    ['sandbox-memory-request', 'requests', 'memory'],
    ['sandbox-cpu-limit', 'limits', 'cpu'],
    ['sandbox-memory-limit', 'limits', 'memory'],
  ] as const) {
    const value = o[flag] as string | undefined;
    if (!value) continue;
    if (!QUANTITY.test(value))
      throw new UsageError(`--${flag}: "${value}" is not a quantity (e.g. 500m, 1Gi)`);
    out[section] = { ...out[section], [resource]: value };
  }
  return out.requests || out.limits ? out : undefined;
}

/** A byte count written as a number or a quantity (`64Mi`, `1G`). */
function parseBytes(text: string, flag: string): number {
  let n: number;
  try {
    n = parseQuantity(text);
  } catch {
    n = Number.NaN;
  }
  if (!text.trim() || !Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`--${flag}: "${text}" is not a byte count (examples: 1048576, 512Ki, 64Mi)`);
  }
  return n;
}

export const sandboxCommands: Command[] = [
  {
    name: 'sandbox verify',
    summary:
      'Check the ci-fixer RBAC in a namespace: ServiceAccounts ci-fixer-app and ci-fixer-sandbox, Role ' +
      'ci-fixer-sandbox-manager, RoleBinding ci-fixer-sandbox-binding, and through SubjectAccessReviews that ' +
      'ci-fixer-app can manage sandbox Jobs there and nothing beyond. Prints ✅/❌ per check; exit 1 on a failure.',
    options: {
      namespace: {
        type: 'string',
        short: 'n',
        description: 'namespace of the ci-fixer',
        default: 'default',
        env: 'NAMESPACE',
      },
      'other-namespace': {
        type: 'string',
        description: 'a namespace ci-fixer-app must not reach (default kube-system)',
      },
      ...clusterFlags,
    },
    async run(o) {
      const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
        context: o['context'] as string | undefined,
      });
      try {
        const results = await verifyDeployment(client, {
          namespace: o['namespace'] as string,
          otherNamespace: o['other-namespace'] as string | undefined,
        });
        console.log(formatChecks(results));
        const failed = results.filter((r) => !r.ok).length;
        console.log(
          failed
            ? `\n❌ ${failed} of ${results.length} checks failed`
            : `\n✅ All ${results.length} checks passed`,
        );
        return failed ? 1 : 0;
      } finally {
        client.close();
      }
    },
  },
  {
    name: 'sandbox serve',
    summary:
      'Run the ci-fixer service: POST /api/runs {image?, commands[], repo?} runs the commands in a sandbox Job; ' +
      'GET /api/runs, /api/runs/:id and /api/runs/:id/events (server-sent events); the web page at /; ' +
      '/healthz, /readyz, /metrics.',
    options: {
      port: {
        type: 'string',
        short: 'p',
        description: 'HTTP port',
        default: String(DEFAULT_PORT),
        env: 'PORT',
      },
      namespace: {
        type: 'string',
        short: 'n',
        description: 'namespace for sandbox Jobs (default: the pod\'s own, else "default")',
        env: 'SANDBOX_NAMESPACE',
      },
      image: {
        type: 'string',
        description: 'default sandbox image',
        default: DEFAULT_SANDBOX_IMAGE,
        env: 'SANDBOX_IMAGE',
      },
      'max-concurrent': {
        type: 'string',
        description: 'sandboxes at once',
        default: '4',
        env: 'MAX_CONCURRENT_SANDBOXES',
      },
      'max-queued': {
        type: 'string',
        description: 'runs waiting at most (then 429)',
        default: '100',
        env: 'MAX_QUEUED_RUNS',
      },
      history: {
        type: 'string',
        description: 'finished runs kept for GET /api/runs',
        default: String(DEFAULT_HISTORY),
        env: 'RUN_HISTORY',
      },
      'history-bytes': {
        type: 'string',
        description:
          'output the finished runs keep together (bytes, or 64Mi); past it the oldest are forgotten',
        default: `${DEFAULT_HISTORY_BYTES / 2 ** 20}Mi`,
        env: 'RUN_HISTORY_BYTES',
      },
      'run-output-bytes': {
        type: 'string',
        description:
          'output a run keeps (bytes, or 16Mi); the rest is streamed but not kept, and the run says so',
        default: `${DEFAULT_RUN_OUTPUT_BYTES / 2 ** 20}Mi`,
        env: 'RUN_OUTPUT_BYTES',
      },
      workdir: {
        type: 'string',
        description: 'working directory in the sandbox',
        default: '/workspace',
        env: 'SANDBOX_WORKDIR',
      },
      'command-timeout': {
        type: 'string',
        description: 'timeout of each command',
        default: '10m',
        env: 'SANDBOX_COMMAND_TIMEOUT',
      },
      'sandbox-startup-timeout': {
        type: 'string',
        description: "how long a sandbox's Pod may take to be Running (its image pull included)",
        default: '2m',
        env: 'SANDBOX_STARTUP_TIMEOUT',
      },
      'sandbox-deadline': {
        type: 'string',
        description: "a sandbox Job's activeDeadline",
        default: '1h',
        env: 'SANDBOX_DEADLINE',
      },
      'sandbox-cpu-request': {
        type: 'string',
        description: 'sandbox CPU request',
        env: 'SANDBOX_CPU_REQUEST',
      },
      'sandbox-memory-request': {
        type: 'string',
        description: 'sandbox memory request',
        env: 'SANDBOX_MEMORY_REQUEST',
      },
      'sandbox-cpu-limit': { type: 'string', description: 'sandbox CPU limit', env: 'SANDBOX_CPU_LIMIT' },
      'sandbox-memory-limit': {
        type: 'string',
        description: 'sandbox memory limit',
        env: 'SANDBOX_MEMORY_LIMIT',
      },
      'sandbox-gpus': {
        type: 'string',
        description: 'nvidia.com/gpu per sandbox',
        default: '0',
        env: 'SANDBOX_GPUS',
      },
      'pod-name': {
        type: 'string',
        description:
          "the service's own Pod (the chart sets it): sandbox Jobs are owned by it and go when it goes, " +
          'and the Ready Pods with its labels are the replicas whose runs it lists and forwards to',
        env: 'POD_NAME',
      },
      'pod-uid': { type: 'string', description: 'the UID of that Pod', env: 'POD_UID' },
      ...clusterFlags,
    },
    async run(o) {
      const podName = (o['pod-name'] as string | undefined) || undefined;
      const podUid = (o['pod-uid'] as string | undefined) || undefined;
      if (!podName !== !podUid) {
        throw new UsageError(
          `--pod-name and --pod-uid go together (POD_NAME and POD_UID); only --${podName ? 'pod-name' : 'pod-uid'} is set`,
        );
      }
      const port = parseInteger(o['port'] as string, 'port', 0, 65535);
      const maxConcurrent = parseInteger(o['max-concurrent'] as string, 'max-concurrent', 1, 1000);
      const maxQueued = parseInteger(o['max-queued'] as string, 'max-queued', 0, 100_000);
      const history = parseInteger(o['history'] as string, 'history', 1, 100_000);
      const historyBytes = parseBytes(o['history-bytes'] as string, 'history-bytes');
      const runOutputBytes = parseBytes(o['run-output-bytes'] as string, 'run-output-bytes');
      if (runOutputBytes > historyBytes) {
        throw new UsageError(
          `--run-output-bytes (${runOutputBytes}) is larger than --history-bytes (${historyBytes}): a finished run would not fit in the history`,
        );
      }
      const gpus = parseInteger(o['sandbox-gpus'] as string, 'sandbox-gpus', 0, 64);
      const commandTimeoutMs = parseDuration(o['command-timeout'] as string, 'command-timeout');
      const deadlineMs = parseDuration(o['sandbox-deadline'] as string, 'sandbox-deadline');
      const startupTimeoutMs = parseDuration(
        o['sandbox-startup-timeout'] as string,
        'sandbox-startup-timeout',
      );
      if (startupTimeoutMs < 1000) throw new UsageError('--sandbox-startup-timeout: at least 1s');
      if (commandTimeoutMs < 1000) throw new UsageError('--command-timeout: at least 1s');
      if (deadlineMs < 60_000) throw new UsageError('--sandbox-deadline: at least 1m');
      // The Job's deadline would stop a command first, reported as the deadline, not its timeout.
      if (commandTimeoutMs > deadlineMs)
        throw new UsageError(
          `--command-timeout (${o['command-timeout']}) is longer than --sandbox-deadline (${o['sandbox-deadline']}): a command would be stopped by the sandbox's deadline first`,
        );
      const resources = sandboxResources(o);
      const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
        fieldManager: 'ci-fixer',
        context: o['context'] as string | undefined,
      });
      // The exec and archive libraries load with the service, not with every start of tutti.
      const { CiFixerService } = await import('./service/server.js');
      const service = new CiFixerService({
        client,
        namespace: (o['namespace'] as string | undefined) || inClusterNamespace() || 'default',
        port,
        image: o['image'] as string,
        maxConcurrent,
        maxQueued,
        history,
        historyBytes,
        runOutputBytes,
        workdir: o['workdir'] as string,
        ...(podName && podUid ? { pod: { name: podName, uid: podUid } } : {}),
        sandbox: {
          workdir: o['workdir'] as string,
          commandTimeoutMs,
          startupTimeoutMs,
          activeDeadlineSeconds: Math.ceil(deadlineMs / 1000),
          ...(resources ? { resources } : {}),
          ...(gpus ? { gpus } : {}),
        },
      });
      const bound = await service.start();
      console.error(`ci-fixer: listening on :${bound}`);
      // `on`, not `once`: the sandbox exit hook must still see a handler when the signal arrives.
      let onSignal = () => {};
      await new Promise<void>((resolve) => {
        onSignal = resolve;
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      console.error('ci-fixer: shutting down; running runs finish first');
      await service.stop();
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      client.close();
      return 0;
    },
  },
];
