import { operatorModules } from '../operator/modules.js';
import { runOperator } from '../operator/run.js';
import type { Command, OptionSpec } from './command.js';
import { contextFlag, parseInteger } from './command.js';

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
  options: Object.assign({}, operatorOptions, ...operatorModules.map((m) => m.options ?? {})),
  async run(o) {
    await runOperator({
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
