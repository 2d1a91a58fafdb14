import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRunRequest, RequestError } from '../../../src/sandbox/service/validate.js';

const fieldOf = (body: unknown): string => {
  try {
    parseRunRequest(body);
  } catch (err) {
    assert.ok(err instanceof RequestError);
    return err.field;
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
};

test('a run request is accepted with its optional image and repository', () => {
  assert.deepEqual(parseRunRequest({ commands: ['npm ci', 'npm test'] }), {
    commands: ['npm ci', 'npm test'],
  });
  assert.deepEqual(
    parseRunRequest({
      commands: ['pytest'],
      image: 'ghcr.io/org/python:3.11-slim',
      repo: 'https://github.com/org/repo.git',
    }),
    { commands: ['pytest'], image: 'ghcr.io/org/python:3.11-slim', repo: 'https://github.com/org/repo.git' },
  );
  assert.equal(
    parseRunRequest({ commands: ['x'], repo: 'git@github.com:org/repo.git' }).repo,
    'git@github.com:org/repo.git',
  );
});

test('each bad request names the field at fault', () => {
  assert.equal(fieldOf(null), 'body');
  assert.equal(fieldOf([]), 'body');
  assert.equal(fieldOf({}), 'commands');
  assert.equal(fieldOf({ commands: [] }), 'commands');
  assert.equal(fieldOf({ commands: 'npm test' }), 'commands');
  assert.equal(fieldOf({ commands: ['ok', ''] }), 'commands[1]');
  assert.equal(fieldOf({ commands: ['ok', 3] }), 'commands[1]');
  assert.equal(fieldOf({ commands: ['ok'], image: 'Not An Image' }), 'image');
  assert.equal(fieldOf({ commands: ['ok'], image: 7 }), 'image');
  assert.equal(fieldOf({ commands: ['ok'], repo: '--upload-pack=evil' }), 'repo');
  assert.equal(fieldOf({ commands: ['ok'], branch: 'main' }), 'branch');
  assert.equal(fieldOf({ commands: Array.from({ length: 101 }, () => 'x') }), 'commands');
});
