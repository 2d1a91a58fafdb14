import { type BinaryName, CONTROL_PLANE_BINARIES, ensureBinaries } from '../cluster/binaries.js';
import { clusterNameProblem, DEFAULT_CLUSTER_NAME, LocalControlPlane } from '../cluster/control-plane.js';
import { type Command, type OptionSpec, UsageError } from './command.js';

const name: Record<string, OptionSpec> = {
  name: {
    type: 'string',
    description: 'name of the local cluster',
    default: DEFAULT_CLUSTER_NAME,
    env: 'TUTTI_CLUSTER',
  },
};
const progress = (m: string) => process.stderr.write(`tutti: ${m}\n`);

/** The command that starts, or repairs, the cluster `name` names. */
function upCommandFor(name: string): string {
  return `tutti cluster up${name === DEFAULT_CLUSTER_NAME ? '' : ` --name ${name}`}`;
}

/** The local cluster `--name` names; a name it cannot be is the user's to fix (exit 2). */
export function planeNamed(name: string): LocalControlPlane {
  const problem = clusterNameProblem(name);
  if (problem) throw new UsageError(`--name: ${problem}`);
  return new LocalControlPlane(name);
}

/** Raised when Ctrl-C (or SIGTERM) ends a start: the command exits 130, as an interrupted one does. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

/**
 * Runs `work` with a signal that Ctrl-C or SIGTERM aborts with `Interrupted(interrupted)`, after
 * `say` hears which signal came and what stops; a second signal ends the process at once, as
 * without this the first one would.
 */
async function interruptibly<T>(
  say: (m: string) => void,
  stopping: string,
  interrupted: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: ${stopping}`);
    abort.abort(new Interrupted(interrupted));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `plane.up()`, where Ctrl-C or SIGTERM stops the components started so far, or the build of
 * their binaries (the default would end this process and leave them running, detached, half a
 * plane nobody asked for).
 */
export function upInterruptibly(plane: LocalControlPlane, say: (m: string) => void): Promise<string> {
  return interruptibly(
    say,
    `stopping what has started of cluster "${plane.name}"`,
    `interrupted while cluster "${plane.name}" started; it is stopped`,
    (signal) => plane.up({ onProgress: say, signal }),
  );
}

export const clusterCommands: Command[] = [
  {
    name: 'cluster up',
    summary:
      'Start a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok ' +
      'with simulated nodes) on 127.0.0.1, building its binaries on first use. Reuses a running one. Prints the ' +
      'kubeconfig path on its last line.',
    options: name,
    async run(o) {
      const plane = planeNamed(o['name'] as string);
      const kubeconfig = await upInterruptibly(plane, progress);
      const status = await plane.status();
      progress(`API server ${status.server}; logs in ${status.logDir}`);
      progress(`use it: export KUBECONFIG=${kubeconfig}`);
      console.log(kubeconfig);
      return 0;
    },
  },
  {
    name: 'cluster down',
    summary: 'Stop the local control plane and delete its data; safe to repeat. Logs are kept.',
    options: name,
    async run(o) {
      await planeNamed(o['name'] as string).down({ onProgress: progress });
      progress(`cluster "${o['name']}" is down`);
      return 0;
    },
  },
  {
    name: 'cluster status',
    summary:
      'Show whether the local control plane runs, each component, its API server and its log directory. ' +
      'Exits 0 when ready, 1 otherwise.',
    options: {
      ...name,
      output: { type: 'string', short: 'o', description: 'output format: text or json', default: 'text' },
    },
    async run(o) {
      const status = await planeNamed(o['name'] as string).status();
      if (o['output'] === 'json') console.log(JSON.stringify(status, null, 2));
      else {
        console.log(
          `cluster:    ${status.name} (${status.exists ? (status.ready ? 'ready' : 'not ready') : 'not created'})`,
        );
        if (status.server) console.log(`server:     ${status.server}`);
        if (status.kubeconfig) console.log(`kubeconfig: ${status.kubeconfig}`);
        console.log(`logs:       ${status.logDir}`);
        if (status.exists) {
          for (const c of status.components) {
            console.log(`  ${c.component.padEnd(24)} ${c.running ? `running (pid ${c.pid})` : 'stopped'}`);
          }
        }
        // What to do next: the plane is started, and repaired, by the same command.
        const up = upCommandFor(o['name'] as string);
        if (!status.exists) console.log(`start it: ${up}`);
        else if (!status.ready) console.log(`restart it: ${up} (the logs say why it stopped)`);
      }
      return status.ready ? 0 : 1;
    },
  },
  {
    name: 'cluster kubeconfig',
    summary: "Print the path of the local cluster's admin kubeconfig (on the last line).",
    options: name,
    async run(o) {
      const plane = planeNamed(o['name'] as string);
      if (!(await plane.state())) {
        process.stderr.write(
          `tutti: cluster "${o['name']}" is not up; run: ${upCommandFor(o['name'] as string)}\n`,
        );
        return 1;
      }
      console.log(plane.kubeconfigPath);
      return 0;
    },
  },
  {
    name: 'cluster build',
    summary:
      'Build (or find) the control plane binaries and helm without starting anything; prints their paths.',
    options: {
      helm: { type: 'boolean', description: 'also build helm', default: true },
      ferretdb: {
        type: 'boolean',
        description: 'also build FerretDB (the MongoDB-wire server the planner trace store is tested on)',
        default: false,
      },
    },
    async run(o) {
      const names: BinaryName[] = [
        ...CONTROL_PLANE_BINARIES,
        'kwokctl',
        ...(o['helm'] ? (['helm'] as const) : []),
        ...(o['ferretdb'] ? (['ferretdb'] as const) : []),
      ];
      // Ended by a signal, the build's go would go on alone for minutes.
      const paths = await interruptibly(
        progress,
        'stopping the build',
        'interrupted while building; the build is stopped',
        (signal) => ensureBinaries(names, { onProgress: progress, signal }),
      );
      for (const [n, p] of Object.entries(paths)) console.log(`${n.padEnd(24)} ${p}`);
      return 0;
    },
  },
];
