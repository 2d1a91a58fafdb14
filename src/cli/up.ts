import { LocalControlPlane } from '../cluster/control-plane.js';
import type { Command } from './command.js';

/**
 * `tutti up`: Tutti's main job. Targets the cluster $KUBECONFIG names, or else brings up the
 * local control plane; modules plug their controllers and services in as they land.
 */
export const upCommand: Command = {
  name: 'up',
  summary:
    'Run Tutti: use the cluster $KUBECONFIG names, or bring up the local control plane, then print how to use it.',
  options: {
    name: {
      type: 'string',
      description: 'local cluster name (when KUBECONFIG is unset)',
      default: 'tutti',
      env: 'TUTTI_CLUSTER',
    },
  },
  async run(o) {
    const say = (m: string) => process.stderr.write(`tutti: ${m}\n`);
    let kubeconfig = process.env['KUBECONFIG'];
    if (kubeconfig) say(`using the cluster in KUBECONFIG=${kubeconfig}`);
    else {
      const plane = new LocalControlPlane(o['name'] as string);
      kubeconfig = await plane.up({ onProgress: say });
      const status = await plane.status();
      say(`local control plane "${status.name}" is ready at ${status.server} (logs: ${status.logDir})`);
    }
    console.log(`
Tutti is ready. Point kubectl at the cluster:

  export KUBECONFIG=${kubeconfig}
  kubectl get nodes

Manage the local control plane with: tutti cluster status | down | kubeconfig
See every command with: tutti --help`);
    return 0;
  },
};
