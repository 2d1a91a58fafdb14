/**
 * The client's CPU per request: ConfigMap creates through KubeClient beside the same creates sent
 * with bare `https.request` over an agent that holds only the TLS context (what Node's https
 * cannot go below), in ABBA rounds in the same run. No target: every controller's writes pay it.
 *   node --import tsx bench/runtime/requests.ts [--count 2000] [--rounds 4] [--inflight 32]
 */
import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { Namespaces } from '../../src/runtime/client/kinds.js';
import { benchCluster, firstSideFirst, median, pool, report } from '../support.js';

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

  /** The process's CPU per request, in µs, over `count` creates with `inflight` in flight. */
  async function cpuPerRequest(send: (i: number) => Promise<unknown>): Promise<number> {
    const c0 = process.cpuUsage();
    await pool(
      Array.from({ length: count }, (_, i) => i),
      inflight,
      send,
    );
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / count;
  }
  const sides = {
    client: (r: number) => cpuPerRequest((i) => client.create(configMap('client', r, i))),
    bare: (r: number) => cpuPerRequest((i) => bare(JSON.stringify(configMap('bare', r, i)))),
  };
  // Untimed first: both code paths compile, and the sockets open.
  await sides.client(-1);
  await sides.bare(-1);
  const times: Record<keyof typeof sides, number[]> = { client: [], bare: [] };
  for (let r = 0; r < rounds; r++) {
    const order: (keyof typeof sides)[] = firstSideFirst(r) ? ['client', 'bare'] : ['bare', 'client'];
    for (const side of order) times[side].push(await sides[side](r));
    console.log(
      `round ${r + 1}: KubeClient ${times.client.at(-1)!.toFixed(0)} µs, bare https ${times.bare.at(-1)!.toFixed(0)} µs of CPU per create`,
    );
  }
  report(
    `client CPU per create, ${inflight} in flight`,
    median(times.client),
    'µs',
    'bare https.request, agent with the TLS context only',
    median(times.bare),
  );
  agent.destroy();
} finally {
  await client.delete(Namespaces, ns).catch(() => {});
  client.close();
  await done();
}
