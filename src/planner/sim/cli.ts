import { type Command, contextFlag, parseInteger, UsageError } from '../../cli/command.js';
import { KubeClient } from '../../runtime/client/client.js';
import { WorkloadSimulator } from './workload-sim.js';

function parseRate(text: string, flag: string): number {
  const n = Number(text);
  if (!(n >= 0) || !Number.isFinite(n)) throw new UsageError(`--${flag}: "${text}" is not a number ≥ 0`);
  return n;
}

/** `tutti planner simulate`: the workload simulator as a process, for demos of the planner. */
export const simulateCommand: Command = {
  name: 'planner simulate',
  summary:
    'Serve Linkerd-style latency and request metrics for a Deployment (pods on kwok nodes) from its live replicas and CPU, at an offered load; PUT /load?rps=N changes the load.',
  options: {
    deployment: { type: 'string', description: 'the Deployment, as <namespace>/<name> (required)' },
    load: { type: 'string', description: 'offered load, requests per second', default: '100' },
    'base-ms': { type: 'string', description: 'p95 latency with no load (ms)', default: '2' },
    'ms-per-load-per-core': {
      type: 'string',
      description: 'p95 added per request/s carried by each requested core (ms)',
      default: '0.1',
    },
    port: { type: 'string', description: 'port of /metrics (0 picks one)', default: '9100' },
    host: { type: 'string', description: 'address to listen on', default: '127.0.0.1' },
    kubeconfig: {
      type: 'string',
      description: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
    },
    context: contextFlag,
  },
  async run(o) {
    const ref = (o['deployment'] as string | undefined) ?? '';
    const [namespace, name, ...rest] = ref.split('/');
    if (!namespace || !name || rest.length) throw new UsageError('--deployment: give <namespace>/<name>');
    const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
      context: o['context'] as string | undefined,
      fieldManager: 'tutti-sim',
    });
    const sim = new WorkloadSimulator({
      client,
      namespace,
      name,
      load: parseRate(o['load'] as string, 'load'),
      baseMs: parseRate(o['base-ms'] as string, 'base-ms'),
      msPerLoadPerCore: parseRate(o['ms-per-load-per-core'] as string, 'ms-per-load-per-core'),
    });
    const port = await sim.start(parseInteger(o['port'] as string, 'port', 0, 65535), o['host'] as string);
    process.stdout.write(`simulating ${namespace}/${name}: metrics on http://${o['host']}:${port}/metrics\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await sim.stop();
    client.close();
    return 0;
  },
};
