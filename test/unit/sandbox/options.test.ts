import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubernetesSandbox, type SandboxOptions } from '../../../src/sandbox/index.js';

const refusal = (options: SandboxOptions): string => {
  try {
    new KubernetesSandbox('busybox', 'default', options);
  } catch (err) {
    assert.ok(err instanceof TypeError, `${err}`);
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(options)}`);
};

test('a sandbox refuses bad options when it is made, naming the option', () => {
  assert.equal(
    refusal({ commandTimeoutMs: 0 }),
    'KubernetesSandbox: commandTimeoutMs must be a whole number ≥ 1, got 0',
  );
  assert.equal(
    refusal({ keepaliveIntervalMs: -1 }),
    'KubernetesSandbox: keepaliveIntervalMs must be a whole number ≥ 0, got -1',
  );
  assert.match(
    refusal({ keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 5000 }),
    /^KubernetesSandbox: keepaliveTimeoutMs \(5000\) must exceed keepaliveIntervalMs \(5000\)/,
  );
  // Against the default interval (10 s) too.
  assert.match(
    refusal({ keepaliveTimeoutMs: 8000 }),
    /keepaliveTimeoutMs \(8000\) must exceed keepaliveIntervalMs \(10000\)/,
  );
});

test('a keepalive can be shortened, or turned off with an interval of 0', () => {
  assert.doesNotThrow(
    () =>
      new KubernetesSandbox('busybox', 'default', { keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 4000 }),
  );
  assert.doesNotThrow(
    () => new KubernetesSandbox('busybox', 'default', { keepaliveIntervalMs: 0, keepaliveTimeoutMs: 0 }),
  );
});

test('a command timeout beyond what a timer holds is refused, not left to fail every command at once', async () => {
  assert.match(
    refusal({ commandTimeoutMs: 30 * 24 * 3600_000 }),
    /^KubernetesSandbox: commandTimeoutMs must be at most \d+ \(about 24 days\), got 2592000000$/,
  );
  const sandbox = new KubernetesSandbox('busybox', 'default');
  await assert.rejects(sandbox.runCommand('true', { timeoutMs: 2 ** 31 }), {
    name: 'TypeError',
    message: /^runCommand: timeoutMs must be from 1 to \d+ \(about 24 days\), got 2147483648$/,
  });
});
