import type { Command } from '../cli/command.js';
import { crdsCommand } from '../cli/crds-command.js';
import { plannerCrds } from './crds.js';
import { plannerRunCommand } from './planner-command.js';
import { samplePluginCommand } from './plugins/cli.js';
import { simulateCommand } from './sim/cli.js';

export const plannerCommands: Command[] = [
  plannerRunCommand,
  crdsCommand(
    'planner',
    'Print the Intent and KPIProfile CRDs (ido.intel.com), or write them into a directory (config/crd).',
    plannerCrds,
  ),
  samplePluginCommand,
  simulateCommand,
];
