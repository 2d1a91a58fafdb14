import type { OperatorModule } from '../operator/module.js';
import { builtinActuators, setupPlanner } from './controller.js';
import { loadPlannerFiles, plannerFileOptions, plannerFileValues } from './run.js';
import { openTraceStore } from './trace/open.js';
import { WorkloadUpdater } from './workload.js';

/** The planner in `tutti operator`: its flags carry a `planner-` prefix there. */
export const plannerOperatorModule: OperatorModule = {
  name: 'planner',
  options: plannerFileOptions('planner-'),
  check: (options) => void plannerFileValues(options, 'planner-'),
  async setup({ mgr, options }) {
    const v = plannerFileValues(options ?? {}, 'planner-');
    const { config, defaultQueries } = await loadPlannerFiles(v.configPath, v.queriesPath);
    const traces = await openTraceStore({
      mongoEndpoint: config.generic.mongo_endpoint,
      traceDir: v.traceDir,
      log: mgr.log.child({ module: 'planner' }),
    });
    // A MongoDB client keeps the process alive: closed once reconciles, which record to it, have drained.
    mgr.onStop('planner-traces', () => traces.close());
    const actuators = builtinActuators(config, new WorkloadUpdater(mgr.client), traces, v.actuators);
    setupPlanner(mgr, { config, defaultQueries, traces, actuators });
  },
};
