import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

/** Runs `tutti sandbox serve` with flags that are refused before any cluster is contacted. */
function serve(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TUTTI, 'sandbox', 'serve', ...args], (err, _stdout, stderr) =>
      resolve({ code: err ? (err.code as number) : 0, stderr }),
    );
  });
}

test('tutti sandbox serve refuses output limits that are no byte count, or that cannot hold a run', async () => {
  const bad = await serve('--history-bytes', 'lots');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--history-bytes: "lots" is not a byte count \(examples: 1048576, 512Ki, 64Mi\)/);
  const fraction = await serve('--run-output-bytes', '1.5');
  assert.match(fraction.stderr, /--run-output-bytes: "1.5" is not a byte count/);
  const larger = await serve('--run-output-bytes', '2Mi', '--history-bytes', '1Mi');
  assert.equal(larger.code, 2);
  assert.match(
    larger.stderr,
    /--run-output-bytes \(2097152\) is larger than --history-bytes \(1048576\): a finished run would not fit/,
  );
  const history = await serve('--history', '0');
  assert.match(history.stderr, /--history: "0" must be a whole number from 1 to 100000/);
  // The chart sets them through the environment.
  const fromEnv = await new Promise<string>((resolve) =>
    execFile(
      process.execPath,
      [TUTTI, 'sandbox', 'serve'],
      { env: { ...process.env, RUN_OUTPUT_BYTES: '64Mi', RUN_HISTORY_BYTES: '32Mi' } },
      (_err, _stdout, stderr) => resolve(stderr),
    ),
  );
  assert.match(fromEnv, /--run-output-bytes \(67108864\) is larger than --history-bytes \(33554432\)/);
});

test('tutti sandbox serve refuses a command timeout longer than the sandbox deadline, naming both', async () => {
  const longer = await serve('--command-timeout', '2h', '--sandbox-deadline', '1h');
  assert.equal(longer.code, 2);
  assert.match(
    longer.stderr,
    /--command-timeout \(2h\) is longer than --sandbox-deadline \(1h\): a command would be stopped by the sandbox's deadline first/,
  );
});
