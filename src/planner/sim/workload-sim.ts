import { createServer, type Server } from 'node:http';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { KubeClient } from '../../runtime/client/client.js';
import { Deployments } from '../../runtime/client/kinds.js';
import { closeServer, listen } from '../../runtime/http-server.js';
import { cpuMillis } from '../observer.js';

/**
 * How the simulated service answers: p95 latency grows linearly with the load each requested
 * core carries, `baseMs + msPerLoadPerCore × load / (ready replicas × cores)`; latencies follow
 * an exponential distribution with that p95. Throughput is the offered load while any replica
 * is ready.
 */
export interface SimulatorOptions {
  client: KubeClient;
  namespace: string;
  /** The Deployment whose replicas and CPU requests serve the load. */
  name: string;
  /** Offered load, requests per second. */
  load: number;
  baseMs?: number;
  msPerLoadPerCore?: number;
}

/** Linkerd's labels on inbound traffic, as IDO's default queries select it. */
const LATENCY_METRIC = 'response_latency_ms';
const REQUESTS_METRIC = 'request_total';

/** Fine buckets, so that histogram_quantile's interpolation stays close to the true quantile. */
const BUCKETS: number[] = (() => {
  const b: number[] = [];
  for (let v = 0.5; v <= 50; v += 0.5) b.push(v);
  for (let v = 51; v <= 200; v += 1) b.push(v);
  b.push(250, 300, 400, 500, 750, 1000, 2000, 5000, 10000);
  return b;
})();

/** p95 of an exponential distribution is mean × ln 20. */
const LN20 = Math.log(20);

/**
 * A workload simulator for the planner: the Deployment's pods run on kwok nodes (which run no
 * code), and this server exports what a service mesh would report for them — a latency
 * histogram and a request counter — computed from the offered load and the Deployment's live
 * ready replicas and CPU requests, read from the API server at every scrape.
 */
export class WorkloadSimulator {
  private server?: Server;
  private load: number;
  private readonly buckets = new Float64Array(BUCKETS.length);
  private count = 0;
  private sum = 0;
  private last?: number;
  /** The last state seen at a scrape: what the exported figures were computed from. */
  lastSeen = { readyReplicas: 0, cpuMillis: 0, p95Ms: Number.NaN };

  constructor(private readonly opts: SimulatorOptions) {
    this.load = opts.load;
  }

  setLoad(rps: number): void {
    if (!(rps >= 0)) throw new Error(`load must be ≥ 0 requests per second, got ${rps}`);
    this.load = rps;
  }

  /** The p95 (ms) the simulator serves at a given provisioning; NaN without a ready replica. */
  p95(readyReplicas: number, cpuMillisPerPod: number, load = this.load): number {
    if (readyReplicas <= 0) return Number.NaN;
    const cores = (cpuMillisPerPod || 1000) / 1000;
    return (this.opts.baseMs ?? 2) + (this.opts.msPerLoadPerCore ?? 0.1) * (load / (readyReplicas * cores));
  }

  async start(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://sim');
      if (url.pathname === '/load' && req.method === 'PUT') {
        // Demos change the offered load while the planner runs: PUT /load?rps=40.
        try {
          this.setLoad(Number(url.searchParams.get('rps') ?? Number.NaN));
          res.writeHead(204).end();
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
        }
        return;
      }
      if (url.pathname !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.scrape().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
        (err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    return listen(this.server, port, host);
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await closeServer(s);
    this.server = undefined;
  }

  /** Advances the counters to now at the current state, then renders them. */
  private async scrape(): Promise<string> {
    const d = await this.opts.client.get<Deployment>(Deployments, this.opts.name, this.opts.namespace);
    const ready = d.status?.readyReplicas ?? 0;
    let cpu = 0;
    for (const c of d.spec?.template?.spec?.containers ?? [])
      cpu += cpuMillis(c.resources?.requests?.['cpu']);
    const p95 = this.p95(ready, cpu);
    this.lastSeen = { readyReplicas: ready, cpuMillis: cpu, p95Ms: p95 };
    const now = Date.now();
    const dt = this.last === undefined ? 0 : (now - this.last) / 1000;
    this.last = now;
    if (ready > 0 && dt > 0) {
      const n = this.load * dt;
      const mean = p95 / LN20;
      for (let i = 0; i < BUCKETS.length; i++) this.buckets[i]! += n * (1 - Math.exp(-BUCKETS[i]! / mean));
      this.count += n;
      this.sum += n * mean;
    }
    const labels = `namespace="${this.opts.namespace}",deployment="${this.opts.name}",direction="inbound"`;
    const lines = [`# TYPE ${LATENCY_METRIC} histogram`];
    for (let i = 0; i < BUCKETS.length; i++)
      lines.push(`${LATENCY_METRIC}_bucket{${labels},le="${BUCKETS[i]}"} ${this.buckets[i]}`);
    lines.push(`${LATENCY_METRIC}_bucket{${labels},le="+Inf"} ${this.count}`);
    lines.push(
      `${LATENCY_METRIC}_sum{${labels}} ${this.sum}`,
      `${LATENCY_METRIC}_count{${labels}} ${this.count}`,
    );
    lines.push(`# TYPE ${REQUESTS_METRIC} counter`, `${REQUESTS_METRIC}{${labels}} ${this.count}`);
    return `${lines.join('\n')}\n`;
  }
}
