import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { replicaOf, replicaToken } from '../../../src/sandbox/service/peers.js';
import { RunScheduler } from '../../../src/sandbox/service/runs.js';

function scheduler(replica?: string): RunScheduler {
  return new RunScheduler({
    defaultImage: 'busybox',
    maxConcurrent: 1,
    maxQueued: 10,
    history: 10,
    historyBytes: 1024,
    runOutputBytes: 1024,
    workdir: '/workspace',
    // A sandbox that never starts: only the ids matter here.
    newSandbox: () => ({
      jobName: 'never',
      init: () => new Promise<void>(() => {}),
      runCommand: () => Promise.reject(new Error('not reached')),
      teardown: async () => {},
    }),
    ...(replica ? { replica } : {}),
    log: pino({ level: 'silent' }),
  });
}

test("a replica's run ids name it, short and URL-safe; ids of a lone service name none", () => {
  const token = replicaToken('5f0c1c1e-7d2b-4a51-9a3e-0d1f2c3b4a59');
  assert.match(token, /^[0-9a-f]{6}$/);
  assert.equal(replicaToken('5f0c1c1e-7d2b-4a51-9a3e-0d1f2c3b4a59'), token, 'the same Pod, the same token');
  assert.notEqual(replicaToken('another-uid'), token);

  const id = scheduler(token).submit({ commands: ['true'] }).id;
  assert.match(id, /^run-[0-9a-f]{6}-[0-9a-z]+-[0-9a-f]{6}$/);
  assert.equal(encodeURIComponent(id), id);
  assert.equal(replicaOf(id), token);

  const local = scheduler().submit({ commands: ['true'] }).id;
  assert.match(local, /^run-[0-9a-z]+-[0-9a-f]{6}$/);
  assert.equal(replicaOf(local), undefined);
});
