import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { closeServer, listen } from './http-server.js';

/** A named readiness or liveness check; it throws or returns false when unhealthy. */
export type HealthCheck = () => boolean | Promise<boolean>;

/** The process-wide metrics registry, with Node's default process metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry?: Registry;
}

/**
 * `/healthz`, `/readyz` and `/metrics` on one port, as controller-runtime's manager serves them;
 * components add named checks (`/readyz?verbose` lists each). Extra routes can be mounted.
 */
export class HealthServer {
  private readonly liveness = new Map<string, HealthCheck>();
  private readonly readiness = new Map<string, HealthCheck>();
  private readonly routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  private server?: Server;

  constructor(private readonly opts: HealthServerOptions) {}

  addHealthCheck(name: string, check: HealthCheck): void {
    this.liveness.set(name, check);
  }

  addReadyCheck(name: string, check: HealthCheck): void {
    this.readiness.set(name, check);
  }

  route(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
    this.routes.set(path, handler);
  }

  async start(): Promise<number> {
    const registry = this.opts.registry ?? metricsRegistry;
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(code, { 'content-type': type });
        res.end(body);
      };
      if (url.pathname === '/healthz' || url.pathname === '/livez') {
        void runChecks(this.liveness, url.searchParams.has('verbose')).then(([ok, text]) =>
          send(ok ? 200 : 500, text),
        );
      } else if (url.pathname === '/readyz') {
        void runChecks(this.readiness, url.searchParams.has('verbose')).then(([ok, text]) =>
          send(ok ? 200 : 500, text),
        );
      } else if (url.pathname === '/metrics') {
        registry.metrics().then(
          (text) => send(200, text, registry.contentType),
          (err: Error) => send(500, err.message),
        );
      } else {
        const handler = this.routes.get(url.pathname);
        if (handler) handler(req, res);
        else send(404, 'not found\n');
      }
    });
    const server = this.server;
    return listen(server, this.opts.port, this.opts.host ?? '0.0.0.0');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server);
  }
}

async function runChecks(checks: Map<string, HealthCheck>, verbose: boolean): Promise<[boolean, string]> {
  const lines: string[] = [];
  let ok = true;
  for (const [name, check] of checks) {
    let passed = false;
    let why = '';
    try {
      passed = (await check()) !== false;
    } catch (err) {
      why = `: ${(err as Error).message}`;
    }
    ok &&= passed;
    lines.push(`[${passed ? '+' : '-'}]${name} ${passed ? 'ok' : `failed${why}`}`);
  }
  const text = verbose || !ok ? `${lines.join('\n')}\n${ok ? 'ok' : 'not ok'}\n` : 'ok\n';
  return [ok, text];
}
