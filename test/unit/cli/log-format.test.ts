/** How Tutti's log lines read on stderr: text for a person at a terminal, JSON anywhere else. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultLogFormat, textLogLine } from '../../../src/runtime/log.js';

const tutti = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

test('a log line as text: local time, level, component, message, then key=value, quoted only where needed', () => {
  const time = '2026-05-04T09:38:42.169Z';
  const local = new Date(time);
  const clock = `${local.toTimeString().slice(0, 8)}.169`;
  const line = textLogLine(
    `${JSON.stringify({
      level: 'warn',
      time,
      component: 'operator',
      kind: 'Performer',
      namespace: 'team a',
      attempt: 3,
      err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6443', stack: 'Error: …' },
      msg: 'list failed; retrying',
    })}\n`,
  );
  assert.equal(
    line,
    `${clock} WARN  operator list failed; retrying kind=Performer namespace="team a" attempt=3 err="connect ECONNREFUSED 127.0.0.1:6443"\n`,
  );
});

test('log lines are text on a terminal and JSON elsewhere (a Pod, a pipe), unless TUTTI_LOG_FORMAT says', () => {
  assert.equal(defaultLogFormat(undefined, true), 'text');
  assert.equal(defaultLogFormat(undefined, false), 'json');
  assert.equal(defaultLogFormat('json', true), 'json');
  assert.equal(defaultLogFormat('text', false), 'text');
});

test('--log-format that names no format is a usage error naming the formats; --help documents it', async () => {
  for (const [args, env, where] of [
    [['up', '--log-format', 'pretty'], {}, ''],
    [
      ['operator', '--kubeconfig', '/nonexistent'],
      { TUTTI_LOG_FORMAT: 'pretty' },
      ' (set by TUTTI_LOG_FORMAT)',
    ],
  ] as const) {
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [tutti, ...args], { env: { ...process.env, ...env } }, (err, _o, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stderr }),
      ),
    );
    assert.equal(code, 2, stderr);
    assert.ok(
      stderr.endsWith(`--log-format: "pretty" is no log format; choose json or text${where}\n`),
      stderr,
    );
  }
  const help = await new Promise<string>((resolve) =>
    execFile(process.execPath, [tutti, 'up', '--help'], (_e, stdout) => resolve(stdout)),
  );
  assert.match(
    help,
    /--log-format <value> +log lines on stderr: json or text; unset, text on a terminal and json elsewhere, as in a Pod; TUTTI_LOG_LEVEL sets the level \(env TUTTI_LOG_FORMAT\)/,
  );
});
