import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Drain, drainable, listen } from '../../runtime/http-server.js';
import { parseJsonStrict } from '../../runtime/json.js';
import type { Logger } from '../../runtime/log.js';
import { TranslateError } from '../translate.js';
import { INTENT_PATH, toResource } from './intent.js';
import { IntentConflictError, type IntentService } from './service.js';

/** TMF921's usual port is the deployer's choice; 8921 echoes the API's number. */
export const DEFAULT_INTENT_PORT = 8921;
/**
 * How long stop() lets requests under way finish: a DELETE waits for its publish to git, and a client
 * whose accepted request is cut would retry into a 404 or 409.
 */
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** Intents are small; anything larger is a mistake or abuse. */
const MAX_BODY_BYTES = 1 << 20;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A TMF630 Error body. */
function sendError(res: ServerResponse, status: number, reason: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({ '@type': 'Error', code: String(status), status: String(status), reason, message }),
  );
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim())
    throw new TranslateError([{ field: '(body)', message: 'is empty; send a TMF921 Intent as JSON' }]);
  try {
    return parseJsonStrict(text);
  } catch (err) {
    throw new TranslateError([{ field: '(body)', message: `is not valid JSON: ${(err as Error).message}` }]);
  }
}

/** The `{id}` path segment; a malformed escape (`%E0`) is the client's error, not a 500. */
function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TranslateError([
      { field: 'id', message: `"${segment}" is not a valid percent-encoded path segment` },
    ]);
  }
}

/**
 * The TMF921 Intent Management API (v5) over HTTP:
 *
 *   POST   /tmf-api/intentManagement/v5/intent        201 + Location; 400 naming the bad fields; 409 on a taken id
 *   GET    /tmf-api/intentManagement/v5/intent        every intent
 *   GET    /tmf-api/intentManagement/v5/intent/{id}   one intent, its lifecycleStatus fresh from the edge
 *   DELETE /tmf-api/intentManagement/v5/intent/{id}   204; 202 while git is unreachable (retried); the edge prunes what it became
 */
export class IntentServer {
  private drain?: Drain;

  constructor(
    private readonly service: IntentService,
    private readonly opts: { host?: string; log?: Logger } = {},
  ) {}

  async start(port = DEFAULT_INTENT_PORT): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (err instanceof TranslateError) return sendError(res, 400, 'Bad Request', err.message);
        if (err instanceof IntentConflictError) return sendError(res, 409, 'Conflict', err.message);
        if (err instanceof HttpError)
          return sendError(
            res,
            err.status,
            err.status === 413 ? 'Content Too Large' : 'Bad Request',
            err.message,
          );
        this.opts.log?.error({ err, url: req.url }, 'request failed');
        if (!res.headersSent) sendError(res, 500, 'Internal Server Error', err.message);
        else res.end();
      });
    });
    const drain = drainable(server);
    const bound = await listen(server, port, this.opts.host ?? '127.0.0.1');
    this.drain = drain;
    return bound;
  }

  /**
   * Stops accepting requests and lets those under way finish, for up to `graceMs`, before cutting
   * them: an answer lost to a stop would make the client retry work already done.
   */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    const drain = this.drain;
    this.drain = undefined;
    await drain?.(graceMs);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    if (path === INTENT_PATH) {
      if (req.method === 'POST') {
        const record = await this.service.create(await readJson(req));
        const body = toResource(record);
        return send(res, 201, body, { location: body.href });
      }
      if (req.method === 'GET') return send(res, 200, (await this.service.list()).map(toResource));
      res.setHeader('allow', 'GET, POST');
      return sendError(res, 405, 'Method Not Allowed', `${req.method} ${INTENT_PATH} is not supported`);
    }
    if (path.startsWith(`${INTENT_PATH}/`) && !path.slice(INTENT_PATH.length + 1).includes('/')) {
      const id = decodeId(path.slice(INTENT_PATH.length + 1));
      if (req.method === 'GET') {
        const record = await this.service.get(id);
        return record
          ? send(res, 200, toResource(record))
          : sendError(res, 404, 'Not Found', `no intent with id ${id}`);
      }
      if (req.method === 'DELETE') {
        const { found, published } = await this.service.delete(id);
        if (!found) return sendError(res, 404, 'Not Found', `no intent with id ${id}`);
        if (!published)
          return send(res, 202, {
            message: `intent ${id} is withdrawn; publishing to git failed and is being retried, then the edge prunes it`,
          });
        res.writeHead(204);
        return void res.end();
      }
      res.setHeader('allow', 'GET, DELETE');
      return sendError(res, 405, 'Method Not Allowed', `${req.method} ${path} is not supported`);
    }
    sendError(res, 404, 'Not Found', `no route ${path}; intents are under ${INTENT_PATH}`);
  }
}
