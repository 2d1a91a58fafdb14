import { type Command, contextFlag, parseInteger } from '../cli/command.js';
import { KubeClient } from '../runtime/client/client.js';
import { componentLogger, rootLogger } from '../runtime/log.js';
import { Manager } from '../runtime/manager.js';
import type { Actuator } from './actuator.js';
import { ACTUATOR_NAMES, builtinActuators, setupPlanner } from './controller.js';
import type { PluginManager } from './plugins/manager.js';
import { loadPlannerFiles, plannerFileOptions, plannerFileValues } from './run.js';
import { openTraceStore } from './trace/open.js';
import { WorkloadUpdater } from './workload.js';

/**
 * `tutti planner`: the IDO-compatible planner on its own. Leader election is off by default:
 * the seed runs one replica with the Recreate strategy, and its ClusterRole grants no Leases.
 */
export const plannerRunCommand: Command = {
  name: 'planner',
  summary:
    "Run the intent planner: observe each Intent's KPIs in Prometheus, plan with A*, scale the target (IDO compatible).",
  options: {
    ...plannerFileOptions(''),
    kubeconfig: {
      type: 'string',
      description: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
    },
    context: contextFlag,
    namespace: {
      type: 'string',
      description:
        'watch intents and pods, and write KPIProfile status, in this namespace only (default: every namespace); KPIProfiles are read in every namespace',
      env: 'PLANNER_NAMESPACE',
    },
    'health-port': {
      type: 'string',
      description: 'port of /healthz, /readyz and /metrics (0 picks one)',
      default: '8081',
      env: 'PLANNER_HEALTH_PORT',
    },
    'leader-elect': {
      type: 'boolean',
      description: 'elect one active replica on a Lease (needs leases rights the seed role lacks)',
      default: false,
      env: 'PLANNER_LEADER_ELECT',
    },
    'plugin-port': {
      type: 'string',
      description:
        "port of the gRPC plugin manager external actuators register with (default: the config's planner.astar.plugin_manager_port; 0 picks one; 'off' serves none)",
      env: 'PLANNER_PLUGIN_PORT',
    },
    'leader-election-namespace': {
      type: 'string',
      description: 'namespace of the leader-election Lease',
      default: 'ido',
    },
    verbosity: {
      type: 'string',
      short: 'v',
      description:
        "IDO's log verbosity (-v 2, as the seed's manifest passes it): 2 or more logs at debug level",
    },
  },
  async run(o) {
    const verbosity = o['verbosity'] as string | undefined;
    // Mostly given as -v (IDO's manifest passes -v 2): the error names both spellings.
    if (verbosity !== undefined && parseInteger(verbosity, '-v/--verbosity', 0, 10) >= 2)
      rootLogger.level = 'debug';
    const v = plannerFileValues(o, '');
    // Flags are checked before any file, kubeconfig or port is touched.
    const healthPort = parseInteger(o['health-port'] as string, 'health-port', 0, 65535);
    const pluginPort = o['plugin-port'] as string | undefined;
    const pluginPortNumber =
      pluginPort === undefined || pluginPort === 'off'
        ? undefined
        : parseInteger(pluginPort, 'plugin-port', 0, 65535);
    const { config, defaultQueries, queriesSource } = await loadPlannerFiles(v.configPath, v.queriesPath);
    const log = componentLogger('planner');
    const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
      context: o['context'] as string | undefined,
      fieldManager: 'tutti-planner',
    });
    const mgr = new Manager({
      client,
      name: 'tutti-planner',
      healthPort,
      leaderElection: o['leader-elect']
        ? { leaseNamespace: o['leader-election-namespace'] as string }
        : undefined,
      logger: log,
    });
    const namespace = o['namespace'] as string | undefined;
    let plugins: PluginManager | undefined;
    let actuators: Actuator[];
    try {
      const traces = await openTraceStore({
        mongoEndpoint: config.generic.mongo_endpoint,
        traceDir: v.traceDir,
        log,
      });
      // Closed once the reconciles that use them have drained, also when the start fails: a MongoDB
      // client or a listening gRPC server would keep the process from ending.
      mgr.onStop('planner-traces', () => traces.close());
      actuators = builtinActuators(config, new WorkloadUpdater(client), traces, v.actuators);
      if (pluginPort !== 'off') {
        const started = await (await import('./plugins/manager.js')).PluginManager.start({
          port: pluginPortNumber ?? config.planner.astar.plugin_manager_port,
          reserved: ACTUATOR_NAMES,
        });
        mgr.onStop('plugin-manager', () => started.close());
        plugins = started;
      }
      const live = plugins;
      setupPlanner(mgr, {
        config,
        defaultQueries,
        traces,
        actuators,
        ...(live ? { plugins: () => live.actuators() } : {}),
        ...(namespace ? { namespace } : {}),
      });
    } catch (err) {
      await mgr.stop();
      client.close();
      throw err;
    }
    mgr.stopOnSignals();
    // A start that fails has stopped the manager and released what was opened above.
    await mgr.start().catch((err: unknown) => {
      client.close();
      throw err;
    });
    log.info(
      {
        healthPort: mgr.healthPort,
        actuators: actuators.map((a) => a.name),
        traceDir: v.traceDir,
        queries: queriesSource,
        pluginPort: plugins?.port,
      },
      'planner running',
    );
    // Runs until SIGTERM/SIGINT, which the manager handles.
    await new Promise(() => {});
    return 0;
  },
};
