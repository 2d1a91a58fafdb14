import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { crdFiles } from '../apis/crd.js';
import type { Command } from './command.js';

/** `tutti <module> crds`: print a module's CRDs as one YAML stream, or write them into a directory. */
export function crdsCommand(
  module: string,
  summary: string,
  crds: () => CustomResourceDefinition[],
): Command {
  return {
    name: `${module} crds`,
    summary,
    options: {
      out: { type: 'string', description: 'directory to write one file per CRD into (e.g. config/crd)' },
    },
    async run(opts) {
      const files = crdFiles(crds());
      const out = opts['out'] as string | undefined;
      if (!out) {
        process.stdout.write([...files.values()].join('---\n'));
        return 0;
      }
      await mkdir(out, { recursive: true });
      for (const [name, text] of files) await writeFile(join(out, name), text);
      return 0;
    },
  };
}
