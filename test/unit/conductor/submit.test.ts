import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetworkIntent } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { toNetworkIntent } from '../../../src/conductor/intent.js';
import { submitNetworkIntent } from '../../../src/conductor/submit.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { AlreadyExistsError, NotFoundError } from '../../../src/runtime/client/errors.js';

const ni = toNetworkIntent({ intent_type: 'scaling', target: 'web', namespace: 'ran-a', replicas: 3 });

test('a NetworkIntent deleted between the create that met it and the read is created again', async () => {
  const stored: NetworkIntent[] = [{ ...ni, metadata: { ...ni.metadata, deletionTimestamp: 'now' } }];
  let creates = 0;
  const client = {
    // The first create meets the old object; it is gone before the read that follows.
    async createOnly(obj: NetworkIntent) {
      creates++;
      if (stored.length) {
        stored.pop();
        throw new AlreadyExistsError(
          409,
          'AlreadyExists',
          'already exists',
          {},
          { method: 'POST', path: '' },
        );
      }
      stored.push(obj);
    },
    async get() {
      if (!stored.length)
        throw new NotFoundError(404, 'NotFound', 'not found', {}, { method: 'GET', path: '' });
      return stored[0];
    },
  } as unknown as KubeClient;
  const result = await submitNetworkIntent(client, ni, { backoffMs: 1 });
  assert.deepEqual(result, { outcome: 'created', name: ni.metadata!.name, namespace: 'ran-a' });
  assert.equal(creates, 2);
});
