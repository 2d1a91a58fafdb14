import { operatorModules } from '../operator/modules.js';
import { Leases } from '../runtime/client/kinds.js';
import { flushLogs } from '../runtime/log.js';
import type { Manager } from '../runtime/manager.js';
import { waitFor } from '../runtime/wait.js';
import { planeNamed, upInterruptibly } from './cluster.js';
import type { Command } from './command.js';
import { contextFlag, parseInteger, UsageError } from './command.js';
import { logFormatOption, startOperator, useLogFormat } from './operator.js';

/** The Lease the operator's manager elects its leader on (named after the manager). */
const OPERATOR_LEASE = 'tutti-operator';
/** Leading is a request or two away, unless another Tutti holds the lease: then it is said. */
const LEAD_NOTE_MS = 2_000;
/** The local control plane `tutti up` brings up when KUBECONFIG is unset. */
const LOCAL_CLUSTER = 'tutti';

/**
 * Resolves once this process leads, so runs the controllers; says once, if it does not lead
 * soon, who holds the lease instead (another Tutti on the cluster, or one that just stopped).
 */
async function leading(mgr: Manager, leaseNamespace: string, say: (m: string) => void): Promise<void> {
  const led = () => mgr.isLeader();
  const soon = await waitFor(led, { description: 'leadership', timeoutMs: LEAD_NOTE_MS }).catch(() => false);
  if (soon) return;
  const lease = await mgr.client.get(Leases, OPERATOR_LEASE, leaseNamespace).catch(() => undefined);
  const holder = lease?.spec?.holderIdentity;
  say(
    `caches synced; the controllers start once this process leads: lease ${leaseNamespace}/${OPERATOR_LEASE} ` +
      `is held by ${holder ? `"${holder}"` : 'another process'}, another Tutti on this cluster or one that ` +
      'stopped without releasing it; waiting until it is released or expires',
  );
  await waitFor(led, { description: 'leadership', timeoutMs: Number.POSITIVE_INFINITY });
}

/**
 * `tutti up`: Tutti's main job. Targets the cluster $KUBECONFIG names, or else brings up the
 * local control plane; then installs the CRDs and runs every module's controllers in this
 * process until Ctrl-C.
 */
export const upCommand: Command = {
  name: 'up',
  summary:
    "Run Tutti: use the cluster $KUBECONFIG names or bring up the local control plane, install the CRDs and run every module's controllers until Ctrl-C.",
  // Modules' own flags (e.g. conductor's --a1-endpoint), as on `tutti operator`.
  options: Object.assign(
    {
      name: {
        type: 'string',
        description: 'local cluster name (when KUBECONFIG is unset)',
        default: LOCAL_CLUSTER,
        env: 'TUTTI_CLUSTER',
      },
      context: { ...contextFlag, description: `${contextFlag.description}; only with KUBECONFIG set` },
      'health-port': {
        type: 'string',
        description: 'port of /healthz, /readyz and /metrics (0 picks one)',
        default: '8081',
        env: 'TUTTI_HEALTH_PORT',
      },
      'system-namespace': {
        type: 'string',
        description: "namespace of Tutti's own objects",
        default: 'tutti-system',
        env: 'TUTTI_SYSTEM_NAMESPACE',
      },
    },
    logFormatOption,
    ...operatorModules.map((m) => m.options ?? {}),
  ),
  async run(o) {
    useLogFormat(o);
    const say = (m: string) => process.stderr.write(`tutti: ${m}\n`);
    let kubeconfig = process.env['KUBECONFIG'];
    const local = !kubeconfig;
    const context = o['context'] as string | undefined;
    if (kubeconfig) {
      say(`using the cluster in KUBECONFIG=${kubeconfig}${context ? ` (context ${context})` : ''}`);
      // Not an error: TUTTI_CLUSTER may be set for the other commands.
      if (o['name'] !== LOCAL_CLUSTER)
        say(
          `--name ${o['name']} is not used: KUBECONFIG is set (unset KUBECONFIG to have tutti up start its own cluster)`,
        );
    } else if (context) {
      throw new UsageError(
        '--context picks a context of the kubeconfig in KUBECONFIG, and KUBECONFIG is unset',
      );
    } else {
      const plane = planeNamed(o['name'] as string);
      kubeconfig = await upInterruptibly(plane, say);
      const status = await plane.status();
      say(`local control plane "${status.name}" is ready at ${status.server} (logs: ${status.logDir})`);
    }
    say(
      `starting Tutti (${operatorModules.map((m) => m.name).join(', ')}): installing the CRDs, syncing the caches, electing a leader`,
    );
    const systemNamespace = o['system-namespace'] as string;
    const mgr = await startOperator(
      {
        // $KUBECONFIG may be a list of files: the loader merges it as kubectl does.
        kubeconfig: local ? kubeconfig : undefined,
        context,
        systemNamespace,
        healthPort: parseInteger(o['health-port'] as string, 'health-port', 0, 65535),
        leaderElection: true,
        only: [],
        installCrds: true,
        moduleOptions: o,
      },
      say,
    );
    await leading(mgr, systemNamespace, say);
    const kubectl = context ? `kubectl --context ${context}` : 'kubectl';
    const stops = local
      ? 'Ctrl-C stops Tutti; the local control plane keeps running (tutti cluster down stops it).'
      : 'Ctrl-C stops Tutti; the cluster and what Tutti made on it stay.';
    // The banner comes after every line logged on the way, as it comes after what they tell.
    flushLogs();
    process.stderr.write(`
Tutti is ready: caches synced, controllers running (health and metrics on :${mgr.healthPort}). In another shell:

  export KUBECONFIG=${kubeconfig}
  ${kubectl} get nodes
  ${kubectl} get crds

${stops}
See every command with: tutti --help
`);
    await new Promise(() => {});
    return 0;
  },
};
