import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import type { NetworkIntent } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { A1Error, A1PolicyClient } from '../../../src/conductor/a1.js';

/**
 * A stand-in A1 mediator (none can run here) speaking the A1-P contract: policies by type and id
 * on the legacy path, by id on the standard path; PUT creates (201) or replaces (200), DELETE
 * answers 204, or 404 for an unknown policy; a non-JSON body is 400.
 */
async function a1Mediator(t: TestContext) {
  const policies = new Map<string, unknown>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      const m =
        /^\/A1-P\/v2\/policytypes\/(\d+)\/policies\/([^/]+)$/.exec(req.url ?? '') ??
        /^\/v2\/policies\/([^/]+)$/.exec(req.url ?? '');
      if (!m) return void res.writeHead(404).end();
      const key = m.length === 3 ? `${m[1]}/${m[2]}` : `100/${m[1]}`;
      if (req.method === 'PUT') {
        try {
          const existed = policies.has(key);
          policies.set(key, JSON.parse(body));
          return void res.writeHead(existed ? 200 : 201).end();
        } catch {
          return void res.writeHead(400).end('body is not JSON');
        }
      }
      if (req.method === 'DELETE') {
        if (!policies.delete(key)) return void res.writeHead(404).end('no such policy');
        return void res.writeHead(204).end();
      }
      res.writeHead(405).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, policies, requests };
}

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
