import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { LOG_LEVELS, logLevelOf, logLevelProblem } from '../../../src/runtime/log-level.js';

const LOG_MODULE = new URL('../../../src/runtime/log.ts', import.meta.url).href;

/** Imports the runtime's logger, as any library module using it does, with TUTTI_LOG_LEVEL set. */
function importLogger(level: string, then = ''): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, TUTTI_LOG_LEVEL: level, TUTTI_LOG_FORMAT: 'json' };
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', `import('${LOG_MODULE}').then((m) => { ${then} })`],
    { encoding: 'utf8', timeout: 30_000, env },
  );
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('a TUTTI_LOG_LEVEL naming no level fails the import with an error naming the variable, its value and the levels', () => {
  const { status, stderr } = importLogger('loud');
  assert.equal(status, 1, stderr);
  assert.match(
    stderr,
    /Error: TUTTI_LOG_LEVEL=loud: expected one of trace, debug, info, warn, error, fatal, silent\n/,
  );
  assert.doesNotMatch(stderr, /default level/, "not pino's own error");
});

test('an empty TUTTI_LOG_LEVEL is no value, as the CLI takes it: the logger loads at info', () => {
  const { status, stderr } = importLogger(
    '',
    "const log = m.componentLogger('t'); log.debug('hidden'); log.info('shown');",
  );
  assert.equal(status, 0, stderr);
  const msgs = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['shown']);
});

test('a level TUTTI_LOG_LEVEL names is the logger’s', () => {
  const { status, stderr } = importLogger(
    'warn',
    "const log = m.componentLogger('t'); log.info('hidden'); log.warn('shown');",
  );
  assert.equal(status, 0, stderr);
  assert.match(stderr, /"msg":"shown"/);
  assert.doesNotMatch(stderr, /hidden/);
});

test('logLevelOf and logLevelProblem: every level passes, unset and empty are info, anything else is named', () => {
  for (const level of LOG_LEVELS) {
    assert.equal(logLevelProblem(level), undefined);
    assert.equal(logLevelOf({ TUTTI_LOG_LEVEL: level }), level);
  }
  assert.equal(logLevelOf({}), 'info');
  assert.equal(logLevelOf({ TUTTI_LOG_LEVEL: '' }), 'info');
  assert.throws(() => logLevelOf({ TUTTI_LOG_LEVEL: 'INFO' }), {
    message: 'TUTTI_LOG_LEVEL=INFO: expected one of trace, debug, info, warn, error, fatal, silent',
  });
});
