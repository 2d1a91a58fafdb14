import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import type { KubeClient } from '../../runtime/client/client.js';
import { Jobs } from '../../runtime/client/kinds.js';
import { metricsRegistry } from '../../runtime/health-server.js';
import { listen } from '../../runtime/http-server.js';
import { componentLogger } from '../../runtime/log.js';
import { SANDBOX_LABEL } from '../job.js';
import { KubernetesSandbox, type SandboxOptions } from '../sandbox.js';
import {
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_PORT,
  DEFAULT_RUN_OUTPUT_BYTES,
  DEFAULT_SANDBOX_IMAGE,
} from './defaults.js';
import { serviceMetrics } from './metrics.js';
import { PAGE_HTML } from './page.js';
import { QueueFullError, type Run, RunScheduler, type RunSchedulerOptions } from './runs.js';
import { parseRunRequest, RequestError } from './validate.js';

/** Request bodies past this are refused: a run is a few commands, not a payload. */
const MAX_BODY_BYTES = 1024 * 1024;
/** SSE comment sent this often so proxies do not cut a quiet stream. */
const SSE_KEEPALIVE_MS = 15_000;

export interface CiFixerServiceOptions {
  client: KubeClient;
  namespace: string;
  port?: number;
  host?: string;
  image?: string;
  maxConcurrent?: number;
  maxQueued?: number;
  /** Finished runs kept. */
  history?: number;
  /** Output (bytes) the finished runs keep together; past it the oldest are forgotten. */
  historyBytes?: number;
  /** Output (bytes) a run stores; the rest is only streamed. */
  runOutputBytes?: number;
  workdir?: string;
  /** Passed to every sandbox (resources, gpus, deadlines, command timeout, …). */
  sandbox?: Omit<SandboxOptions, 'client' | 'kubeconfig' | 'context' | 'ownerReferences'>;
  /**
   * The service's own Pod, in `namespace`. Its sandbox Jobs are owned by it, so they go when it
   * goes, even when the process was killed before it could tear them down; and at start the
   * service deletes the ones an earlier container of the same Pod left behind.
   */
  pod?: { name: string; uid: string };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * The ci-fixer service: POST/GET /api/runs, GET /api/runs/:id, live run events as server-sent
 * events at /api/runs/:id/events, the web page at /, and /healthz, /readyz, /metrics.
 */
export class CiFixerService {
  readonly scheduler: RunScheduler;
  private readonly metrics;
  private server?: Server;
  private readonly log = componentLogger('ci-fixer');

  constructor(private readonly opts: CiFixerServiceOptions) {
    this.metrics = serviceMetrics(() => this.scheduler);
    const schedulerOptions: RunSchedulerOptions = {
      defaultImage: opts.image ?? DEFAULT_SANDBOX_IMAGE,
      maxConcurrent: opts.maxConcurrent ?? 4,
      maxQueued: opts.maxQueued ?? 100,
      history: opts.history ?? DEFAULT_HISTORY,
      historyBytes: opts.historyBytes ?? DEFAULT_HISTORY_BYTES,
      runOutputBytes: opts.runOutputBytes ?? DEFAULT_RUN_OUTPUT_BYTES,
      workdir: opts.workdir ?? opts.sandbox?.workdir ?? '/workspace',
      log: this.log,
      newSandbox: (image) =>
        new KubernetesSandbox(image, opts.namespace, {
          ...opts.sandbox,
          client: opts.client,
          ...(opts.pod
            ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: opts.pod.name, uid: opts.pod.uid }] }
            : {}),
        }),
      onRunFinished: (run, seconds) => this.metrics.runFinished(run.status, seconds),
      onRunForgotten: (_run, reason) => this.metrics.runForgotten(reason),
      onOutputDropped: (bytes) => this.metrics.outputDropped(bytes),
    };
    this.scheduler = new RunScheduler(schedulerOptions);
  }

  async start(): Promise<number> {
    // Best effort: a leftover still ends at its activeDeadline, so a failed list must not keep
    // the service down.
    await this.deleteLeftoverSandboxes().catch((err: Error) =>
      this.log.warn({ err: err.message }, 'could not delete the sandboxes an earlier run of this pod left'),
    );
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, (err as Error).message);
        if (e.status >= 500) this.log.error({ err: e.message, path: req.url }, 'request failed');
        if (!res.headersSent) {
          // The rest of an oversized body is left unread: close the connection rather than let
          // the client send its next request on one the server has stopped reading.
          if (e.status === 413) res.setHeader('connection', 'close');
          sendJson(res, e.status, { error: e.message, ...(e.field ? { field: e.field } : {}) });
        } else res.end();
      });
    });
    this.server = server;
    const port = await listen(server, this.opts.port ?? DEFAULT_PORT, this.opts.host ?? '0.0.0.0');
    this.log.info({ port, namespace: this.opts.namespace }, 'ci-fixer listening');
    return port;
  }

  /**
   * Stops accepting requests, lets running runs finish (their sandboxes torn down, their event
   * streams ended), then closes every connection still open. Waiting for clients to close theirs
   * could take until Node's 300 s request timeout: a browser keeps a spare connection open with no
   * request on it.
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server && new Promise<void>((resolve) => server.close(() => resolve()));
    await this.scheduler.stop();
    server?.closeAllConnections();
    await closed;
  }

  /** Deletes the sandbox Jobs owned by this Pod: none of them belongs to a run of this process. */
  private async deleteLeftoverSandboxes(): Promise<void> {
    const pod = this.opts.pod;
    if (!pod) return;
    const { namespace, client } = this.opts;
    const jobs = await client.list(Jobs, { namespace, labelSelector: `app=${SANDBOX_LABEL.app}` });
    for (const job of jobs.items) {
      if (!job.metadata?.ownerReferences?.some((o) => o.uid === pod.uid)) continue;
      const name = job.metadata.name!;
      await client.delete(Jobs, name, namespace, { propagationPolicy: 'Background' });
      this.log.info({ sandbox: name }, 'deleted a sandbox left by an earlier run of this pod');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/' && method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE_HTML);
    } else if (path === '/healthz' || path === '/livez') {
      sendText(res, 200, 'ok\n');
    } else if (path === '/readyz') {
      try {
        await this.opts.client.raw('/version');
        sendText(res, 200, 'ok\n');
      } catch (err) {
        sendText(res, 503, `the API server is unreachable: ${(err as Error).message}\n`);
      }
    } else if (path === '/metrics') {
      const registry = Registry.merge([metricsRegistry, this.metrics.registry]);
      sendText(res, 200, await registry.metrics(), registry.contentType);
    } else if (path === '/api/runs') {
      if (method === 'GET') sendJson(res, 200, { runs: this.scheduler.list().map(summary) });
      else if (method === 'POST') await this.createRun(req, res);
      else throw new HttpError(405, `${method} is not allowed on /api/runs (GET, POST)`);
    } else {
      const m = /^\/api\/runs\/([\w-]+)(\/events)?$/.exec(path);
      if (!m || method !== 'GET') throw new HttpError(404, `no route for ${method} ${path}`);
      const run = this.scheduler.get(m[1]!);
      if (!run) throw new HttpError(404, `run ${m[1]} not found`);
      if (m[2]) this.streamEvents(req, res, run);
      else sendJson(res, 200, run);
    }
  }

  private async createRun(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(415, 'send the run as JSON (content-type: application/json)', 'content-type');
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, `body: not valid JSON: ${(err as Error).message}`, 'body');
    }
    try {
      const run = this.scheduler.submit(parseRunRequest(body));
      res.setHeader('location', `/api/runs/${run.id}`);
      sendJson(res, 201, run);
    } catch (err) {
      if (err instanceof RequestError) throw new HttpError(400, err.message, err.field);
      if (err instanceof QueueFullError) {
        res.setHeader('retry-after', '30');
        throw new HttpError(429, err.message);
      }
      throw err;
    }
  }

  private streamEvents(req: IncomingMessage, res: ServerResponse, run: Run): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let seq = 0;
    let unsubscribe: (() => void) | undefined;
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    const close = () => {
      clearInterval(keepalive);
      unsubscribe?.();
    };
    unsubscribe = this.scheduler.subscribe(run.id, (event) => {
      res.write(`id: ${seq++}\ndata: ${JSON.stringify(event)}\n\n`);
      if (event.type === 'end') {
        close();
        res.end();
      }
    });
    req.on('close', close);
  }
}

function summary(run: Run) {
  const { steps, ...rest } = run;
  return { ...rest, commands: steps.map((s) => s.command) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(`${JSON.stringify(body)}\n`);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': type });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
    throw new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`, 'body');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`, 'body');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
