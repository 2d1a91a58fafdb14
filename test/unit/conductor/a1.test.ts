import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetworkIntent } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { A1Error, A1PolicyClient } from '../../../src/conductor/a1.js';
import { a1Mediator } from '../../support/a1-mediator.js';

const ni: NetworkIntent = {
  apiVersion: 'intent.nephoran.com/v1alpha1',
  kind: 'NetworkIntent',
  metadata: { name: 'intent-web-1234abcd', namespace: 'ran-a' },
  spec: {
    intentType: 'scaling',
    target: 'web',
    namespace: 'ran-a',
    replicas: 4,
    source: 'user',
    networkParameters: { qos: 'gold' },
  },
};

test('the policy goes to the legacy path by default and is deleted with the intent', async (t) => {
  const a1 = await a1Mediator(t);
  const client = new A1PolicyClient({ endpoint: a1.url });
  await client.putPolicy(ni);
  await client.putPolicy({ ...ni, spec: { ...ni.spec, replicas: 6 } });
  assert.deepEqual(a1.policies.get('100/policy-intent-web-1234abcd'), {
    intentType: 'scaling',
    target: 'web',
    namespace: 'ran-a',
    replicas: 6,
    source: 'user',
    networkParameters: { qos: 'gold' },
  });
  await client.deletePolicy(ni);
  await client.deletePolicy(ni); // already gone: not an error
  assert.equal(a1.policies.size, 0);
  assert.deepEqual(a1.requests, [
    'PUT /A1-P/v2/policytypes/100/policies/policy-intent-web-1234abcd',
    'PUT /A1-P/v2/policytypes/100/policies/policy-intent-web-1234abcd',
    'DELETE /A1-P/v2/policytypes/100/policies/policy-intent-web-1234abcd',
    'DELETE /A1-P/v2/policytypes/100/policies/policy-intent-web-1234abcd',
  ]);
});

test('the standard path is used when asked for', async (t) => {
  const a1 = await a1Mediator(t);
  const client = new A1PolicyClient({ endpoint: `${a1.url}/`, pathStyle: 'standard' });
  await client.putPolicy(ni);
  assert.deepEqual(a1.requests, ['PUT /v2/policies/policy-intent-web-1234abcd']);
});

test('a mediator error names method, URL and status; a bad endpoint is refused up front', async (t) => {
  const a1 = await a1Mediator(t);
  const client = new A1PolicyClient({ endpoint: `${a1.url}/nowhere` });
  await assert.rejects(client.putPolicy(ni), (err: unknown) => {
    assert.ok(err instanceof A1Error);
    assert.equal(err.status, 404);
    assert.match(
      err.message,
      /^A1 PUT http:\/\/127\.0\.0\.1:\d+\/nowhere\/A1-P\/v2\/policytypes\/100\/policies\/policy-intent-web-1234abcd: HTTP 404/,
    );
    return true;
  });
  assert.throws(
    () => new A1PolicyClient({ endpoint: 'a1mediator:10000' }),
    /--a1-endpoint: .* must be an http or https URL|is not a URL/,
  );
});
