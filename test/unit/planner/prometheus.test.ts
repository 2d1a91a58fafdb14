import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { PrometheusClient, PrometheusError } from '../../../src/planner/prometheus.js';
import { freePort, startPrometheus } from '../../support/prometheus.js';

const failure = (kind: string, message: RegExp) => (err: unknown) =>
  err instanceof PrometheusError && err.failure === kind && message.test(err.message);

test('a real Prometheus: one value per query, and each kind of failure named', async (t) => {
  const prom = await startPrometheus(t, []);
  const client = new PrometheusClient({ timeoutMs: 5_000 });
  assert.equal(await client.value(prom.queryUrl, 'vector(2.5)'), 2.5);
  assert.equal(await client.value(prom.queryUrl, 'scalar(vector(7))'), 7);
  await assert.rejects(
    client.value(prom.queryUrl, 'sum(rate(nothing_here[30s]))by(le)'),
    failure('no-data', /no series/),
  );
  await assert.rejects(
    client.value(prom.queryUrl, 'vector(1) or label_replace(vector(2), "a", "b", "", "")'),
    failure('ambiguous', /2 series/),
  );
  await assert.rejects(client.value(prom.queryUrl, 'vector(0)/0'), failure('not-a-number', /NaN/));
  await assert.rejects(
    client.value(prom.queryUrl, 'sum(('),
    failure('query', /rejected the query: bad_data/),
  );
  const closed = `http://127.0.0.1:${await freePort()}/api/v1/query`;
  await assert.rejects(client.value(closed, 'up'), failure('unreachable', /ECONNREFUSED/));
});

test('a server that does not answer in time is a timeout; a non-Prometheus answer says so', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new PrometheusClient({ timeoutMs: 200 });
  await assert.rejects(client.value(`${base}/slow`, 'up'), failure('timeout', /within 200 ms/));
  await assert.rejects(
    client.value(`${base}/api/v1/query`, 'up'),
    failure('bad-response', /not answer Prometheus JSON/),
  );
});
