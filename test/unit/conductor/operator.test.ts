import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCommandArgs, UsageError } from '../../../src/cli/command.js';
import { operatorCommand } from '../../../src/cli/operator.js';
import { upCommand } from '../../../src/cli/up.js';
import { conductorOperatorSettings } from '../../../src/conductor/operator.js';

const run = promisify(execFile);
const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

test('tutti operator takes the A1 endpoint from --a1-endpoint or A1_MEDIATOR_URL', (t) => {
  const saved = process.env['A1_MEDIATOR_URL'];
  t.after(() => {
    if (saved === undefined) delete process.env['A1_MEDIATOR_URL'];
    else process.env['A1_MEDIATOR_URL'] = saved;
  });
  process.env['A1_MEDIATOR_URL'] = 'http://a1mediator.ricplt:10000';
  const fromEnv = parseCommandArgs(operatorCommand, ['--module', 'conductor']).values;
  assert.deepEqual(conductorOperatorSettings(fromEnv), {
    a1: { endpoint: 'http://a1mediator.ricplt:10000', pathStyle: 'legacy' },
  });
  const fromFlags = parseCommandArgs(operatorCommand, [
    '--a1-endpoint=http://a1:9000',
    '--a1-path-style=standard',
  ]).values;
  assert.deepEqual(conductorOperatorSettings(fromFlags).a1, {
    endpoint: 'http://a1:9000',
    pathStyle: 'standard',
  });

  delete process.env['A1_MEDIATOR_URL'];
  assert.deepEqual(conductorOperatorSettings(parseCommandArgs(operatorCommand, []).values), {});
  assert.throws(
    () => conductorOperatorSettings({ 'a1-endpoint': 'http://a1', 'a1-path-style': 'v3' }),
    (err) => err instanceof UsageError && /must be legacy or standard/.test(err.message),
  );
});

test('tutti up takes the conductor flags too, and its --help shows them', async () => {
  const values = parseCommandArgs(upCommand, [
    '--a1-endpoint=http://a1:9000',
    '--a1-path-style=standard',
    '--intent-namespace=ran',
  ]).values;
  assert.deepEqual(conductorOperatorSettings(values), {
    a1: { endpoint: 'http://a1:9000', pathStyle: 'standard' },
    namespace: 'ran',
  });
  const { stdout } = await run(process.execPath, [TUTTI, 'up', '--help']);
  assert.match(stdout, /--a1-endpoint <value> .*env A1_MEDIATOR_URL/);
  assert.match(stdout, /--a1-path-style <value> .*\/v2\/policies\/\{id\}.*env A1_PATH_STYLE/);
  assert.match(stdout, /--intent-namespace <value>/);
});
