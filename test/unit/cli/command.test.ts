import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Command,
  helpText,
  parseCommandArgs,
  parseDuration,
  UsageError,
} from '../../../src/cli/command.js';

const cmd: Command = {
  name: 'demo',
  summary: 'A demo command.',
  options: {
    'batch-size': { type: 'string', description: 'files per batch', default: '10', env: 'DEMO_BATCH_SIZE' },
    once: { type: 'boolean', description: 'run once', default: false, env: 'DEMO_ONCE' },
    watch: { type: 'boolean', description: 'keep watching', default: true },
  },
  run: () => 0,
};

describe('parseDuration', () => {
  test('reads Go-style durations', () => {
    assert.equal(parseDuration('100ms'), 100);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('0'), 0);
  });
  test('rejects anything else, naming the flag', () => {
    for (const bad of ['5', 'ms', '5 s', '5sx', '-1s', '']) {
      assert.throws(
        () => parseDuration(bad, 'batch-interval'),
        (err: Error) => {
          assert.ok(err instanceof UsageError);
          assert.match(err.message, /--batch-interval: ".*" is not a duration/);
          return true;
        },
      );
    }
  });
});

describe('parseCommandArgs', () => {
  test('flags win over environment variables, which win over defaults', () => {
    process.env['DEMO_BATCH_SIZE'] = '20';
    try {
      assert.equal(parseCommandArgs(cmd, []).values['batch-size'], '20');
      assert.equal(parseCommandArgs(cmd, ['--batch-size', '30']).values['batch-size'], '30');
      assert.equal(parseCommandArgs(cmd, ['--batch-size=40']).values['batch-size'], '40');
    } finally {
      delete process.env['DEMO_BATCH_SIZE'];
    }
    assert.equal(parseCommandArgs(cmd, []).values['batch-size'], '10');
  });
  test('booleans take --flag, --flag=false and --no-flag', () => {
    assert.equal(parseCommandArgs(cmd, ['--once']).values['once'], true);
    assert.equal(parseCommandArgs(cmd, ['--watch=false']).values['watch'], false);
    assert.equal(parseCommandArgs(cmd, ['--no-watch']).values['watch'], false);
    assert.equal(parseCommandArgs(cmd, []).values['watch'], true);
  });
  test("Go's one-dash forms of declared flags, as the seeds' manifests pass them", () => {
    assert.equal(parseCommandArgs(cmd, ['-batch-size', '30']).values['batch-size'], '30');
    assert.equal(parseCommandArgs(cmd, ['-batch-size=40']).values['batch-size'], '40');
    assert.equal(parseCommandArgs(cmd, ['-once']).values['once'], true);
    assert.equal(parseCommandArgs(cmd, ['-watch=false']).values['watch'], false);
    assert.throws(() => parseCommandArgs(cmd, ['-bogus']), UsageError);
  });
  test('after --, words that look like boolean flags are positionals, as every other word is', () => {
    const files: Command = { ...cmd, allowPositionals: true };
    const { values, positionals } = parseCommandArgs(files, [
      'a',
      '--',
      '--once=true',
      '--no-watch',
      '-once',
    ]);
    assert.deepEqual(positionals, ['a', '--once=true', '--no-watch', '-once']);
    assert.equal(values['once'], false);
    assert.equal(values['watch'], true);
  });
  test('a boolean environment variable must say true or false', () => {
    process.env['DEMO_ONCE'] = 'maybe';
    try {
      assert.throws(() => parseCommandArgs(cmd, []), /DEMO_ONCE=maybe: expected true or false/);
    } finally {
      delete process.env['DEMO_ONCE'];
    }
  });
  test('an unknown flag is a usage error that shows the help', () => {
    assert.throws(
      () => parseCommandArgs(cmd, ['--bogus']),
      (err: Error) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /Unknown option '--bogus'/);
        assert.match(err.message, /Usage: tutti demo/);
        return true;
      },
    );
  });
  test('help lists every flag with its default and environment variable', () => {
    const help = helpText(cmd);
    assert.match(help, /--batch-size <value>\s+files per batch \(default "10"; env DEMO_BATCH_SIZE\)/);
    assert.match(help, /-h, --help/);
  });
});
