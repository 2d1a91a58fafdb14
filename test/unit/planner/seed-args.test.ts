import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseCommandArgs } from '../../../src/cli/command.js';
import { plannerRunCommand } from '../../../src/planner/planner-command.js';

test("tutti planner takes the seed's container args as deploy/ido writes them", async () => {
  const text = await readFile(new URL('../../../deploy/ido/planner.yaml', import.meta.url), 'utf8');
  const deployment = parseAllDocuments(text)
    .map((d) => d.toJS())
    .find((o) => o?.kind === 'Deployment');
  const args: string[] = deployment.spec.template.spec.containers[0].args;
  assert.deepEqual(args.slice(0, 2), ['-config', '/config/defaults.json']);
  const { values } = parseCommandArgs(plannerRunCommand, args);
  assert.equal(values['config'], '/config/defaults.json');
  assert.equal(values['verbosity'], '2');
});
