import { conductorCommands } from '../conductor/cli.js';
import { gitopsCommands } from '../gitops/cli.js';
import { hourglassCommands } from '../hourglass/cli.js';
import { plannerCommands } from '../planner/cli.js';
import { sandboxCommands } from '../sandbox/cli.js';
import { clusterCommands } from './cluster.js';
import type { Command } from './command.js';
import { operatorCommand } from './operator.js';
import { upCommand } from './up.js';

/** Every `tutti` subcommand; each module appends its own list here. */
export const commands: Command[] = [
  upCommand,
  operatorCommand,
  ...clusterCommands,
  ...gitopsCommands,
  ...hourglassCommands,
  ...conductorCommands,
  ...plannerCommands,
  ...sandboxCommands,
];
