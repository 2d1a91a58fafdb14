import { type Command, contextFlag, parseInteger, UsageError } from '../../cli/command.js';
import { KubeClient } from '../../runtime/client/client.js';
import { componentLogger } from '../../runtime/log.js';
import { WorkloadUpdater } from '../workload.js';
import { ScaleOutByTwoActuator } from './scale-by-two.js';

export const samplePluginCommand: Command = {
  name: 'planner sample-plugin',
  summary:
    "Run the sample actuator plugin (scale_out_by_two: doubles a workload's replicas): serve it over gRPC and register it with the planner's plugin manager.",
  options: {
    manager: {
      type: 'string',
      description: "host:port of the planner's plugin manager",
      default: 'plugin-manager-service:33333',
      env: 'PLUGIN_MANAGER',
    },
    port: { type: 'string', description: 'port to serve the plugin on (0 picks one)', default: '33334' },
    host: { type: 'string', description: 'address to bind', default: '0.0.0.0' },
    advertise: {
      type: 'string',
      description: 'host or IP the planner dials to reach this plugin (the pod IP in a cluster)',
      env: 'POD_IP',
      default: '127.0.0.1',
    },
    'max-pods': { type: 'string', description: 'never plan more replicas than this', default: '128' },
    kubeconfig: {
      type: 'string',
      description: 'kubeconfig for carrying out plans (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
    },
    context: contextFlag,
  },
  async run(o) {
    const manager = o['manager'] as string;
    // Without a port gRPC would dial 443 and fail with a bare ECONNREFUSED.
    if (!/^[^:\s]+:\d{1,5}$/.test(manager) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(manager))
      throw new UsageError(`--manager: "${manager}" must be host:port (e.g. 127.0.0.1:33333)`);
    const log = componentLogger('sample-plugin');
    const kubeconfig = o['kubeconfig'] as string | undefined;
    const context = o['context'] as string | undefined;
    let client: KubeClient | undefined;
    try {
      client = await KubeClient.load(kubeconfig, { fieldManager: 'tutti-planner-plugin', context });
    } catch (err) {
      // Only access found by default may be missing; a cluster asked for by name must be there.
      if (kubeconfig || context) throw err;
      log.warn(
        { err: (err as Error).message },
        'no cluster access: plans naming this plugin will fail to perform',
      );
    }
    const actuator = new ScaleOutByTwoActuator(
      parseInteger(o['max-pods'] as string, 'max-pods', 1, 100_000),
      client && new WorkloadUpdater(client),
    );
    // gRPC is loaded by the commands that speak it, not by every start of tutti.
    const { servePlugin } = await import('./serve.js');
    const plugin = await servePlugin(actuator, {
      manager,
      port: parseInteger(o['port'] as string, 'port', 0, 65535),
      host: o['host'] as string,
      advertise: o['advertise'] as string,
    });
    process.stdout.write(
      `plugin ${actuator.name} serving on port ${plugin.port}, registered with ${o['manager']}\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await plugin.close();
    client?.close();
    return 0;
  },
};
