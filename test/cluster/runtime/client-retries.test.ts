import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { TooManyRequestsError, UnavailableError } from '../../../src/runtime/client/errors.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import { MAX_RETRY_AFTER_RETRIES } from '../../../src/runtime/client/retry.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testNamespace } from '../../support/cluster.js';
import {
  type FaultInjectingProxy,
  faultInjected,
  type SeenRequest,
} from './fixtures/fault-injecting-proxy.js';

/** A client through a fault-injecting proxy, with a namespace of its own and discovery done. */
async function setup(
  t: TestContext,
): Promise<{ proxy: FaultInjectingProxy; client: KubeClient; ns: string }> {
  const ns = await testNamespace(t, await testClient(t));
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig, { fieldManager: 'tutti-test' });
  t.after(() => client.close());
  // Discovery and a kept-alive socket, so that the faults below meet the request under test.
  await client.list(ConfigMaps, { namespace: ns });
  return { proxy, client, ns };
}

const configMap = (ns: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { k: 'v' },
});

const creates = (ns: string) => (r: SeenRequest) =>
  r.method === 'POST' && r.url.startsWith(`/api/v1/namespaces/${ns}/configmaps`);
const gets = (ns: string, name: string) => (r: SeenRequest) =>
  r.method === 'GET' && r.url === `/api/v1/namespaces/${ns}/configmaps/${name}`;

describe('requests the server asks to retry (Retry-After)', () => {
  test('a create answered 429 with Retry-After is sent again, and creates the object once', async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.fail(creates(ns), 2, 429, '0');
    const created = await client.create(configMap(ns, 'throttled'));
    assert.equal(created.metadata?.name, 'throttled');
    assert.equal(proxy.count(creates(ns)), 3, 'two 429s, then the create that went through');
    const all = await client.list(ConfigMaps, { namespace: ns });
    assert.deepEqual(
      all.items.map((c) => c.metadata?.name).filter((n) => n === 'throttled'),
      ['throttled'],
    );
  });

  test('a 503 with Retry-After is waited out and sent again', async (t) => {
    const { proxy, client, ns } = await setup(t);
    await client.create(configMap(ns, 'cm'));
    proxy.fail(gets(ns, 'cm'), 1, 503, '1');
    const got = await client.get(ConfigMaps, 'cm', ns);
    assert.deepEqual(got.data, { k: 'v' });
    assert.equal(proxy.count(gets(ns, 'cm')), 2);
  });

  test('a 503 without Retry-After is the answer, as client-go takes it', async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.fail(gets(ns, 'cm'), 1, 503);
    await assert.rejects(client.get(ConfigMaps, 'cm', ns), UnavailableError);
    assert.equal(proxy.count(gets(ns, 'cm')), 1);
  });

  test(`after ${MAX_RETRY_AFTER_RETRIES} retries the 429 is the answer`, async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.fail(creates(ns), 1000, 429, '0');
    await assert.rejects(client.create(configMap(ns, 'never')), (err: unknown) => {
      assert.ok(err instanceof TooManyRequestsError, String(err));
      assert.equal(err.retryAfterSeconds, 0);
      return true;
    });
    assert.equal(proxy.count(creates(ns)), 1 + MAX_RETRY_AFTER_RETRIES);
  });

  test("the caller's signal ends the wait", async (t) => {
    const { proxy, client, ns } = await setup(t);
    // Within get()'s 30 s deadline, so that the wait is begun.
    proxy.fail(gets(ns, 'cm'), 1, 429, '20');
    const caller = new AbortController();
    const call = client.get(ConfigMaps, 'cm', ns, { signal: caller.signal });
    await waitFor(() => proxy.count(gets(ns, 'cm')) === 1, {
      description: 'the proxy to answer the get with a 429',
      timeoutMs: 10_000,
    });
    const reason = new Error('the caller gave up');
    caller.abort(reason);
    await assert.rejects(call, (err) => err === reason);
    assert.equal(proxy.count(gets(ns, 'cm')), 1);
  });

  test("every verb takes the caller's signal, which ends its wait as it does a get's", async (t) => {
    const { proxy, client, ns } = await setup(t);
    await client.create(configMap(ns, 'cm'));
    const at = (method: string, path: string) => (r: SeenRequest) =>
      r.method === method && r.url.split('?')[0]!.endsWith(path);
    const cm = `/namespaces/${ns}/configmaps/cm`;
    const calls: [string, (r: SeenRequest) => boolean, (signal: AbortSignal) => Promise<unknown>][] = [
      [
        'patch',
        at('PATCH', cm),
        (signal) => client.patch(ConfigMaps, 'cm', ns, { data: { k: 'w' } }, 'merge', undefined, { signal }),
      ],
      ['apply', at('PATCH', cm), (signal) => client.apply(configMap(ns, 'cm'), { signal })],
      [
        'replaceStatus',
        at('PUT', `${cm}/status`),
        (signal) => client.replaceStatus(configMap(ns, 'cm'), { signal }),
      ],
      ['delete', at('DELETE', cm), (signal) => client.delete(ConfigMaps, 'cm', ns, { signal })],
      [
        'deleteCollection',
        at('DELETE', `/namespaces/${ns}/configmaps`),
        (signal) => client.deleteCollection(ConfigMaps, { namespace: ns, signal }),
      ],
      ['raw', at('GET', '/version'), (signal) => client.raw('/version', undefined, { signal })],
    ];
    for (const [verb, match, call] of calls) {
      const before = proxy.count(match);
      proxy.fail(match, 1, 429, '20');
      const caller = new AbortController();
      const sent = call(caller.signal);
      await waitFor(() => proxy.count(match) === before + 1, {
        description: `the proxy to answer the ${verb} with a 429`,
        timeoutMs: 10_000,
      });
      const reason = new Error(`the caller gave up its ${verb}`);
      caller.abort(reason);
      await assert.rejects(sent, (err) => err === reason, verb);
      assert.equal(proxy.count(match), before + 1, `${verb} is not sent again`);
    }
    assert.equal((await client.get(ConfigMaps, 'cm', ns)).data?.['k'], 'v', 'nothing was changed');
  });

  test("a wait longer than the request's deadline is not begun: the 429 is the answer", async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.fail(gets(ns, 'cm'), 1, 429, '600');
    const call = client.transport.json({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/configmaps/cm`,
      timeoutMs: 20_000,
    });
    await assert.rejects(call, TooManyRequestsError);
    assert.equal(proxy.count(gets(ns, 'cm')), 1);
  });
});

describe('a kept-alive socket the server closed as the request arrived', () => {
  test('a get is sent again on a new connection', async (t) => {
    const { proxy, client, ns } = await setup(t);
    await client.create(configMap(ns, 'cm'));
    proxy.hangUp(gets(ns, 'cm'), 1);
    const got = await client.get(ConfigMaps, 'cm', ns);
    assert.deepEqual(got.data, { k: 'v' });
    assert.equal(proxy.count(gets(ns, 'cm')), 2);
  });

  test('a create the server read before it hung up is not sent again: the hang-up is the answer', async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.hangUp(creates(ns), 1);
    // The server may have carried it out: sent again, a create would meet itself (AlreadyExists).
    await assert.rejects(client.create(configMap(ns, 'read')), (err: unknown) => {
      assert.ok(err instanceof UnavailableError, String(err));
      assert.match(err.message, /cannot reach the API server: (socket hang up|.*ECONNRESET)/);
      return true;
    });
    assert.equal(proxy.count(creates(ns)), 1);
  });

  test('a JSON patch the server read before it hung up is not sent again', async (t) => {
    const { proxy, client, ns } = await setup(t);
    await client.create(configMap(ns, 'counted'));
    const patches = (r: SeenRequest) =>
      r.method === 'PATCH' && r.url.startsWith(`/api/v1/namespaces/${ns}/configmaps/counted`);
    proxy.hangUp(patches, 1);
    const append = [{ op: 'add', path: '/data/k', value: 'v2' }];
    await assert.rejects(client.patch(ConfigMaps, 'counted', ns, append, 'json'), UnavailableError);
    assert.equal(proxy.count(patches), 1);
  });

  test('a create whose kept-alive socket was reset before it went out is sent again, and creates the object once', async (t) => {
    const { proxy, client, ns } = await setup(t);
    // setup()'s kept-alive socket is reset; the create, begun in the same turn of the event loop,
    // is written to it before the client has read of the reset: the write fails, nothing is sent.
    proxy.resetConnections();
    const created = await client.create(configMap(ns, 'after-reset'));
    assert.equal(created.metadata?.name, 'after-reset');
    assert.equal(proxy.count(creates(ns)), 1, 'only the create sent on the new connection arrived');
  });

  test('a replace carrying a resourceVersion is sent again: a repeat of it cannot apply twice', async (t) => {
    const { proxy, client, ns } = await setup(t);
    const cm = await client.create(configMap(ns, 'cas'));
    const puts = (r: SeenRequest) =>
      r.method === 'PUT' && r.url.startsWith(`/api/v1/namespaces/${ns}/configmaps/cas?`);
    proxy.hangUp(puts, 1);
    const replaced = await client.replace({ ...cm, data: { k: 'v2' } });
    assert.deepEqual(replaced.data, { k: 'v2' });
    assert.equal(proxy.count(puts), 2);
  });
});

describe('a connection reset before the answer (client-go sends a GET again, no other verb)', () => {
  test('a get is sent again a second later, until it is answered', async (t) => {
    const { proxy, client, ns } = await setup(t);
    await client.create(configMap(ns, 'cm'));
    proxy.hangUp(gets(ns, 'cm'), 3);
    const got = await client.get(ConfigMaps, 'cm', ns);
    assert.deepEqual(got.data, { k: 'v' });
    assert.equal(proxy.count(gets(ns, 'cm')), 4, 'three connections closed, then the get answered');
  });

  test('a create on a new connection that is reset is not sent again: the reset is the answer', async (t) => {
    const { proxy, client, ns } = await setup(t);
    // No kept-alive socket: the create opens a new connection.
    client.transport.connection.agent.destroy();
    proxy.hangUp(creates(ns), 1);
    await assert.rejects(client.create(configMap(ns, 'reset')), (err: unknown) => {
      assert.ok(err instanceof UnavailableError, String(err));
      assert.match(err.message, /cannot reach the API server: (socket hang up|.*ECONNRESET)/);
      return true;
    });
    assert.equal(proxy.count(creates(ns)), 1);
    assert.equal(await client.find(ConfigMaps, 'reset', ns), undefined);
  });

  test('a watch whose opening GET is reset is sent again and opens', async (t) => {
    const { proxy, client, ns } = await setup(t);
    const watches = (r: SeenRequest) =>
      r.method === 'GET' &&
      r.url.startsWith(`/api/v1/namespaces/${ns}/configmaps?`) &&
      r.url.includes('watch=1');
    proxy.hangUp(watches, 1);
    const stream = await client.watchStream(ConfigMaps, { namespace: ns });
    t.after(() => stream.destroy());
    assert.equal(stream.statusCode, 200);
    assert.equal(proxy.count(watches), 2);
  });

  test("the request's deadline ends the retries: the connection's failure is the answer", async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.hangUp(gets(ns, 'cm'), 1000);
    const call = client.transport.json({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/configmaps/cm`,
      timeoutMs: 2_500,
    });
    await assert.rejects(call, UnavailableError);
    // Each retry waits a second and none is begun past the deadline: at most three sends, and
    // the kept-alive socket's immediate resend.
    assert.ok(proxy.count(gets(ns, 'cm')) <= 4, `sent ${proxy.count(gets(ns, 'cm'))} times`);
  });

  test("the caller's signal ends the retries", async (t) => {
    const { proxy, client, ns } = await setup(t);
    proxy.hangUp(gets(ns, 'cm'), 1000);
    const caller = new AbortController();
    const call = client.get(ConfigMaps, 'cm', ns, { signal: caller.signal });
    // Past the kept-alive socket's one resend: the get is being retried.
    await waitFor(() => proxy.count(gets(ns, 'cm')) >= 3, {
      description: 'the get to be sent again after a reset',
      timeoutMs: 20_000,
    });
    const reason = new Error('the caller gave up');
    caller.abort(reason);
    await assert.rejects(call, (err) => err === reason);
  });
});
