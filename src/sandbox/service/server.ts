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
  DEFAULT_EVENT_STREAM_BUFFER_BYTES,
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_PORT,
  DEFAULT_RUN_OUTPUT_BYTES,
  DEFAULT_SANDBOX_IMAGE,
} from './defaults.js';
import { forwardGet, getJson } from './forward.js';
import { serviceMetrics } from './metrics.js';
import { PAGE_HTML } from './page.js';
import { PEER_HEADER, type Peer, Peers, replicaOf, replicaToken } from './peers.js';
import { EventIdError, QueueFullError, type Run, RunScheduler, type RunSchedulerOptions } from './runs.js';
import { parseRunRequest, RequestError } from './validate.js';

/** Request bodies past this are refused: a run is a few commands, not a payload. */
const MAX_BODY_BYTES = 1024 * 1024;
/** SSE comment sent this often so proxies do not cut a quiet stream. */
const SSE_KEEPALIVE_MS = 15_000;
/** How long another replica may take to answer a list, or to start answering a forwarded request. */
const DEFAULT_PEER_TIMEOUT_MS = 2000;

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
  /**
   * How long another replica may take to answer `GET /api/runs`, or to start answering a request
   * forwarded to it (an event stream then runs as long as it lasts). Default 2 s.
   */
  peerTimeoutMs?: number;
  /** How long the list of the other replicas is reused before the API server is asked again. Default 5 s. */
  peerCacheMs?: number;
  /**
   * Live events (bytes) an event stream may hold unsent beyond its replay; past it the client,
   * which does not read, is disconnected (an EventSource reconnects). Default 4 MiB.
   */
  eventStreamBufferBytes?: number;
}

/** What `GET /api/runs` says of a replica whose runs it could not list. */
interface PartialEntry {
  replica?: string;
  pod?: string;
  error: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly details?: Record<string, unknown>,
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
  /** The other replicas, when the service knows its own Pod; without it, it is alone. */
  private readonly peers?: Peers;
  private port = 0;

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
      ...(opts.pod ? { replica: replicaToken(opts.pod.uid) } : {}),
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
    if (opts.pod) {
      this.peers = new Peers({
        client: opts.client,
        namespace: opts.namespace,
        pod: opts.pod,
        port: () => this.port,
        ...(opts.peerCacheMs !== undefined ? { ttlMs: opts.peerCacheMs } : {}),
        log: this.log,
      });
    }
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
          sendJson(res, e.status, {
            error: e.message,
            ...(e.field ? { field: e.field } : {}),
            ...e.details,
          });
        } else res.end();
      });
    });
    this.server = server;
    const port = await listen(server, this.opts.port ?? DEFAULT_PORT, this.opts.host ?? '0.0.0.0');
    this.port = port;
    this.log.info(
      { port, namespace: this.opts.namespace, ...(this.peers ? { replica: this.peers.self } : {}) },
      'ci-fixer listening',
    );
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
      if (method === 'GET') sendJson(res, 200, await this.listRuns(req));
      else if (method === 'POST') await this.createRun(req, res);
      else throw new HttpError(405, `${method} is not allowed on /api/runs (GET, POST)`);
    } else {
      const m = /^\/api\/runs\/([\w-]+)(\/events)?$/.exec(path);
      if (!m || method !== 'GET') throw new HttpError(404, `no route for ${method} ${path}`);
      const run = this.scheduler.get(m[1]!);
      if (!run) await this.forward(req, res, m[1]!, path);
      else if (m[2]) this.streamEvents(req, res, run);
      else sendJson(res, 200, run);
    }
  }

  /**
   * This replica's runs and every other replica's, newest first. A replica that does not
   * answer within the peer timeout is named in `partial` rather than left out unsaid.
   */
  private async listRuns(req: IncomingMessage): Promise<{ runs: unknown[]; partial?: PartialEntry[] }> {
    const local = this.scheduler.list().map(summary);
    if (!this.peers || req.headers[PEER_HEADER]) return { runs: local };
    const partial: PartialEntry[] = [];
    let peers: Peer[] = [];
    try {
      peers = await this.peers.list();
    } catch (err) {
      partial.push({ error: `could not list the other replicas: ${(err as Error).message}` });
    }
    const timeout = this.opts.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
    const theirs = await Promise.all(
      peers.map(async (peer) => {
        try {
          const body = (await getJson(peer, '/api/runs', timeout)) as { runs?: unknown };
          if (!Array.isArray(body.runs)) throw new Error('answered without a list of runs');
          return body.runs as { createdAt?: string }[];
        } catch (err) {
          partial.push({ replica: peer.replica, pod: peer.pod, error: (err as Error).message });
          return [];
        }
      }),
    );
    const runs = [...local, ...theirs.flat()].sort((a, b) =>
      String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')),
    );
    if (partial.length > 0) {
      this.log.warn({ partial }, 'listed runs without some replicas');
      return { runs, partial };
    }
    return { runs };
  }

  /**
   * A run this replica does not hold: forwarded to the replica its id names. That replica gone
   * (no Pod of the service has its token) means its runs went with it: 404 saying so; one
   * that does not answer, 503. A request that was itself forwarded is never forwarded again.
   */
  private async forward(req: IncomingMessage, res: ServerResponse, id: string, path: string): Promise<void> {
    const replica = replicaOf(id);
    if (!this.peers || !replica || replica === this.peers.self || req.headers[PEER_HEADER]) {
      throw new HttpError(404, `run ${id} not found`);
    }
    let peer: Peer | undefined;
    try {
      peer = await this.peers.find(replica);
    } catch (err) {
      throw new HttpError(
        503,
        `run ${id} is held by replica ${replica}, and the replicas could not be listed: ${(err as Error).message}`,
        undefined,
        { replica },
      );
    }
    if (!peer) {
      const pod = this.peers.podOf(replica);
      throw new HttpError(
        404,
        `run ${id} was held by replica ${replica}${pod ? ` (pod ${pod})` : ''}, which is gone: no Pod of this service is that replica, and its runs went with it`,
        undefined,
        { replica, ...(pod ? { pod } : {}) },
      );
    }
    try {
      await forwardGet(peer, path, req, res, this.opts.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS);
    } catch (err) {
      throw new HttpError(
        503,
        `run ${id} is held by replica ${peer.replica} (pod ${peer.pod}), which does not answer: ${(err as Error).message}; its runs cannot be read, and if it has gone they went with it`,
        undefined,
        { replica: peer.replica, pod: peer.pod },
      );
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

  /**
   * A run's events. An EventSource that reconnects sends the id of the last event it got
   * (Last-Event-ID): the stream then resumes right after it, rather than replaying the run.
   */
  private streamEvents(req: IncomingMessage, res: ServerResponse, run: Run): void {
    const lastEventId = headerValue(req.headers['last-event-id']);
    if (lastEventId !== undefined) {
      let ended: boolean;
      try {
        ended = this.scheduler.isLastEventId(run.id, lastEventId);
      } catch (err) {
        if (err instanceof EventIdError) throw new HttpError(400, err.message, 'last-event-id');
        throw err;
      }
      // It had the end event: 204 tells an EventSource to stop reconnecting.
      if (ended) {
        res.writeHead(204).end();
        return;
      }
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let unsubscribe: (() => void) | undefined;
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    const close = () => {
      clearInterval(keepalive);
      unsubscribe?.();
    };
    // The replay is as large as the run's kept output; the live events after it may add this much.
    let maxUnsent = Number.POSITIVE_INFINITY;
    unsubscribe = this.scheduler.subscribe(
      run.id,
      (event, id) => {
        res.write(`id: ${id}\ndata: ${JSON.stringify(event)}\n\n`);
        if (event.type === 'end') {
          close();
          res.end();
        } else if (res.writableLength > maxUnsent) {
          this.log.warn(
            { run: run.id, unsentBytes: res.writableLength },
            'disconnected an event stream whose client does not keep up',
          );
          this.metrics.eventStreamDropped();
          close();
          res.destroy();
        }
      },
      lastEventId,
    );
    maxUnsent = res.writableLength + (this.opts.eventStreamBufferBytes ?? DEFAULT_EVENT_STREAM_BUFFER_BYTES);
    req.on('close', close);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
