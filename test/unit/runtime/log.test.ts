import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const LOG_MODULE = new URL('../../../src/runtime/log.ts', import.meta.url).href;

/** Runs a script that logs through the runtime's logger; returns its exit code and stderr lines. */
function run(script: string): { status: number | null; lines: string[] } {
  const res = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { componentLogger } from '${LOG_MODULE}';\n${script}`,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { status: res.status, lines: res.stderr.split('\n').filter((l) => l.startsWith('{')) };
}

const messages = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);

test('lines logged just before process.exit are written, in order', () => {
  const { status, lines } = run(`
    const log = componentLogger('test');
    for (let i = 0; i < 500; i++) log.info({ i }, 'line ' + i);
    process.exit(3);
  `);
  assert.equal(status, 3);
  assert.deepEqual(
    messages(lines),
    Array.from({ length: 500 }, (_, i) => `line ${i}`),
  );
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first['level'], 'info');
  assert.equal(first['component'], 'test');
  assert.match(String(first['time']), /^\d{4}-\d\d-\d\dT/);
});

test('lines logged before an uncaught exception are written', () => {
  const { status, lines } = run(`
    componentLogger('test').error('about to fail');
    setTimeout(() => { throw new Error('boom'); }, 0);
  `);
  assert.equal(status, 1);
  assert.deepEqual(messages(lines), ['about to fail']);
});

test('a quiet process still writes its lines without exiting', async () => {
  const { status, lines } = run(`
    componentLogger('test').info('early');
    // Wait until the line has reached stderr on its own, then exit without the exit-time flush.
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(process.pid, 'SIGKILL');
  `);
  assert.equal(status, null, 'killed');
  assert.deepEqual(messages(lines), ['early']);
});
