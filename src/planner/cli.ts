import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from '../cli/command.js';
import { plannerCrdFiles } from './crds.js';
import { plannerRunCommand } from './planner-command.js';
import { samplePluginCommand } from './plugins/cli.js';
import { simulateCommand } from './sim/cli.js';

const crdsCommand: Command = {
  name: 'planner crds',
  summary:
    'Print the Intent and KPIProfile CRDs (ido.intel.com), or write them into a directory (config/crd).',
  options: {
    out: { type: 'string', description: 'directory to write one file per CRD into (e.g. config/crd)' },
  },
  async run(opts) {
    const files = plannerCrdFiles();
    const out = opts['out'] as string | undefined;
    if (!out) {
      process.stdout.write([...files.values()].join(''));
      return 0;
    }
    await mkdir(out, { recursive: true });
    for (const [name, text] of files) await writeFile(join(out, name), text);
    return 0;
  },
};

export const plannerCommands: Command[] = [
  plannerRunCommand,
  crdsCommand,
  samplePluginCommand,
  simulateCommand,
];
