import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, parsePlannerConfig } from '../../../src/planner/config.js';
import { loadPlannerFiles } from '../../../src/planner/run.js';

test('an actuators.scale_in section is refused with where its settings go', () => {
  assert.throws(
    () => parsePlannerConfig(JSON.stringify({ actuators: { scale_in: { min_pods: 2 } } }), 'defaults.json'),
    {
      name: 'ConfigError',
      message: 'defaults.json: actuators.scale_in: unknown key (scale_in takes its settings from scale_out)',
    },
  );
});

test('monitor.profile.queries naming a directory is an error naming the key and the path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-planner-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'defaults.json');
  await writeFile(config, JSON.stringify({ monitor: { profile: { queries: dir } } }));
  await assert.rejects(loadPlannerFiles(config), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, `monitor.profile.queries ${dir}: EISDIR: illegal operation on a directory`);
    return true;
  });
  // The queries flag pointing at a directory says the same of itself.
  await assert.rejects(loadPlannerFiles(config, dir), {
    message: `queries file ${dir}: EISDIR: illegal operation on a directory`,
  });
});
