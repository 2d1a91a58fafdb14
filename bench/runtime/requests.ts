/**
 * The client's CPU per request: ConfigMap creates through KubeClient beside the same creates sent
 * with bare `https.request` over an agent that holds only the TLS context (what Node's https
 * cannot go below), in ABBA rounds in the same run. No target: every controller's writes pay it.
 * A third side sends them as HTTP/2 streams on one session, as client-go does; for each side the
 * API server's CPU per create is printed too, read from its /metrics.
 *   node --import tsx bench/runtime/requests.ts [--count 2000] [--rounds 4] [--inflight 32]
 */
import { connect, constants } from 'node:http2';
import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Namespaces } from '../../src/runtime/client/kinds.js';
import { apiServerCpuSeconds, benchCluster, median, pool, report } from '../support.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '32' },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const inflight = Number(values.inflight);

const { kubeconfig, done } = await benchCluster('runtime');
const client = await KubeClient.load(kubeconfig, { fieldManager: 'bench' });
const ns = `bench-requests-${Date.now()}`;
try {
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const { server, tls } = client.transport.connection;
  const agent = new Agent({
    secureContext: createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key }),
    keepAlive: true,
    maxSockets: inflight,
  });
  const headers = await client.transport.headers({ 'content-type': 'application/json' });
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const configMap = (side: string, round: number, i: number): ConfigMap => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${side}-${round}-${i}`, namespace: ns },
    data: { index: String(i) },
  });
  const bare = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        { agent, host: server.hostname, port: server.port, method: 'POST', path, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 400) reject(new Error(`bare create: HTTP ${res.statusCode}`));
            else {
              JSON.parse(Buffer.concat(chunks).toString('utf8')); // as the client parses its answer
              resolve();
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  // HTTP/2: one session, every create a stream on it (header names lower-cased, as HTTP/2 wants).
  const session = connect(`https://${server.hostname}:${server.port}`, {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
  });
  await new Promise((resolve, reject) => session.once('connect', resolve).once('error', reject));
  const h2Headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const h2 = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const stream = session.request({
        ...h2Headers,
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
      });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (status = Number(h[constants.HTTP2_HEADER_STATUS])));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (status >= 400) reject(new Error(`HTTP/2 create: HTTP ${status}`));
        else {
          JSON.parse(Buffer.concat(chunks).toString('utf8'));
          resolve();
        }
      });
      stream.on('error', reject);
      stream.end(body);
    });

  /** This process's CPU and the API server's per request, in µs, over `count` creates with `inflight` in flight. */
  async function cpuPerRequest(send: (i: number) => Promise<unknown>): Promise<{ own: number; api: number }> {
    const api0 = await apiServerCpuSeconds(client);
    const c0 = process.cpuUsage();
    await pool(
      Array.from({ length: count }, (_, i) => i),
      inflight,
      send,
    );
    const c = process.cpuUsage(c0);
    const api = (await apiServerCpuSeconds(client)) - api0;
    return { own: (c.user + c.system) / count, api: (api * 1e6) / count };
  }
  const sides = {
    client: (r: number) => cpuPerRequest((i) => client.create(configMap('client', r, i))),
    bare: (r: number) => cpuPerRequest((i) => bare(JSON.stringify(configMap('bare', r, i)))),
    http2: (r: number) => cpuPerRequest((i) => h2(JSON.stringify(configMap('http2', r, i)))),
  };
  type Side = keyof typeof sides;
  const names: Record<Side, string> = {
    client: 'KubeClient',
    bare: 'bare https.request, agent with the TLS context only',
    http2: 'bare HTTP/2 streams, one session',
  };
  // Untimed first: every code path compiles, and the sockets open.
  for (const side of Object.keys(sides) as Side[]) await sides[side](-1);
  const own: Record<Side, number[]> = { client: [], bare: [], http2: [] };
  const api: Record<Side, number[]> = { client: [], bare: [], http2: [] };
  const all = Object.keys(sides) as Side[];
  for (let r = 0; r < rounds; r++) {
    // Each side takes every place in the order over the rounds.
    const order = all.map((_, i) => all[(i + r) % all.length]!);
    for (const side of order) {
      const cpu = await sides[side](r);
      own[side].push(cpu.own);
      api[side].push(cpu.api);
    }
    console.log(
      `round ${r + 1}, µs of CPU per create (client / API server): ${all.map((s) => `${s} ${own[s].at(-1)!.toFixed(0)} / ${api[s].at(-1)!.toFixed(0)}`).join(', ')}`,
    );
  }
  report(
    `client CPU per create, ${inflight} in flight`,
    median(own.client),
    'µs',
    names.bare,
    median(own.bare),
  );
  report('client CPU per create over HTTP/2', median(own.http2), 'µs', names.bare, median(own.bare));
  report('API server CPU per create over HTTP/2', median(api.http2), 'µs', names.bare, median(api.bare));
  session.close();
  agent.destroy();
} finally {
  await client.delete(Namespaces, ns).catch(() => {});
  client.close();
  await done();
}
