import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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

// Takes one lock per round and is killed while it holds them: each is then a lock whose holder
// died, as the lock code itself leaves it.
const deadHolder = `
import { withFileLock } from ${JSON.stringify(LOCK)};
const [dir, rounds] = [process.argv[1], Number(process.argv[2])];
let held = 0;
for (let round = 0; round < rounds; round++) {
  void withFileLock(dir + '/' + round + '.lock', () => {
    if (++held === rounds) console.log('holding');
    return new Promise(() => {});
  });
}
`;

// Takes the lock of each round the test names on stdin, all contenders at once, and answers
// whether another was inside with it.
const staleContender = `
import { rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { withFileLock } from ${JSON.stringify(LOCK)};
const dir = process.argv[1];
for await (const round of createInterface({ input: process.stdin })) {
  let overlap = 0;
  await withFileLock(dir + '/' + round + '.lock', async () => {
    try { await writeFile(dir + '/inside-' + round, '', { flag: 'wx' }); } catch { overlap = 1; return; }
    // Long enough for a second contender that took the lock over too to find the marker.
    await new Promise((r) => setTimeout(r, 20));
    await rm(dir + '/inside-' + round);
  });
  console.log(overlap);
}
`;

test('of processes that meet a lock whose holder died, exactly one takes it over', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rounds = 12;
  const node = (script: string, ...args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
  const holder = node(deadHolder, dir, String(rounds));
  const lines = createInterface({ input: holder.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'holding');
  holder.kill('SIGKILL');
  await once(holder, 'exit');

  const contenders = Array.from({ length: 6 }, () => node(staleContender, dir));
  t.after(() => {
    for (const c of contenders) c.kill();
  });
  const answers = contenders.map((c) => createInterface({ input: c.stdout })[Symbol.asyncIterator]());
  const overlapped: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Every contender hears the round at once, so that they meet the dead holder's lock together.
    for (const c of contenders) c.stdin.write(`${round}\n`);
    let overlaps = 0;
    for (const a of answers) overlaps += Number((await a.next()).value);
    if (overlaps) overlapped.push(round);
  }
  for (const c of contenders) c.stdin.end();
  assert.deepEqual(
    overlapped,
    [],
    `in ${overlapped.length} of ${rounds} rounds two contenders held the lock at once`,
  );
});
