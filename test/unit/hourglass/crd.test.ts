import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { hourglassCrdFiles } from '../../../src/hourglass/crds.js';

test('config/crd holds exactly what the Performer types generate', async () => {
  const files = hourglassCrdFiles();
  assert.deepEqual([...files.keys()], ['hourglass.eigenlayer.io_performers.yaml']);
  for (const [name, content] of files) {
    const onDisk = await readFile(new URL(`../../../config/crd/${name}`, import.meta.url), 'utf8');
    assert.equal(onDisk, content, `config/crd/${name} is stale: run tutti hourglass crds --out config/crd`);
  }
});
