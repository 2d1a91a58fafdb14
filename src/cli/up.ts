import { operatorModules } from '../operator/modules.js';
import { runOperator } from '../operator/run.js';
import { planeNamed, upInterruptibly } from './cluster.js';
import type { Command } from './command.js';
import { contextFlag, parseInteger, UsageError } from './command.js';

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
        default: 'tutti',
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
    ...operatorModules.map((m) => m.options ?? {}),
  ),
  async run(o) {
    const say = (m: string) => process.stderr.write(`tutti: ${m}\n`);
    let kubeconfig = process.env['KUBECONFIG'];
    const local = !kubeconfig;
    const context = o['context'] as string | undefined;
    if (kubeconfig)
      say(`using the cluster in KUBECONFIG=${kubeconfig}${context ? ` (context ${context})` : ''}`);
    else if (context) {
      throw new UsageError(
        '--context picks a context of the kubeconfig in KUBECONFIG, and KUBECONFIG is unset',
      );
    } else {
      const plane = planeNamed(o['name'] as string);
      kubeconfig = await upInterruptibly(plane, say);
      const status = await plane.status();
      say(`local control plane "${status.name}" is ready at ${status.server} (logs: ${status.logDir})`);
    }
    const mgr = await runOperator({
      // $KUBECONFIG may be a list of files: the loader merges it as kubectl does.
      kubeconfig: local ? kubeconfig : undefined,
      context,
      systemNamespace: o['system-namespace'] as string,
      healthPort: parseInteger(o['health-port'] as string, 'health-port', 0, 65535),
      leaderElection: true,
      only: [],
      installCrds: true,
      moduleOptions: o,
    });
    const kubectl = context ? `kubectl --context ${context}` : 'kubectl';
    const stops = local
      ? 'Ctrl-C stops Tutti; the local control plane keeps running (tutti cluster down stops it).'
      : 'Ctrl-C stops Tutti; the cluster and what Tutti made on it stay.';
    process.stderr.write(`
Tutti is running (health and metrics on :${mgr.healthPort}). In another shell:

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
