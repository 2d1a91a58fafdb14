import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const LOCK = new URL('../../../src/cluster/lock.ts', import.meta.url).href;

// Each process takes the lock again and again; inside it, a marker file made exclusively tells
// whether another process is inside too.
const contender = `
import { rm, writeFile } from 'node:fs/promises';
import { withFileLock } from ${JSON.stringify(LOCK)};
const dir = process.argv[1];
let overlaps = 0;
for (let round = 0; round < 100; round++) {
  await withFileLock(dir + '/x.lock', async () => {
    try { await writeFile(dir + '/inside', '', { flag: 'wx' }); } catch { overlaps++; return; }
    await new Promise((r) => setTimeout(r, 1));
    await rm(dir + '/inside');
  });
}
console.log(overlaps);
`;

test('processes that take one lock at once never hold it together', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = () =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', contender, dir]);
  const outputs = await Promise.all(Array.from({ length: 6 }, run));
  assert.deepEqual(
    outputs.map((o) => Number(o.stdout.trim())),
    [0, 0, 0, 0, 0, 0],
  );
});
