import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { finished } from 'node:stream/promises';
import { eitherSignal } from '../signals.js';
import type { Connection, Impersonation } from './connection.js';
import {
  type ApiError,
  apiErrorFrom,
  connectionError,
  type StatusBody,
  tlsError,
  UnavailableError,
} from './errors.js';
import {
  isResetGet,
  isStaleSocketFailure,
  MAX_RETRY_AFTER_RETRIES,
  mayResendOnNewConnection,
  pause,
  RESET_RETRY_WAIT_MS,
  retryAfterSeconds,
} from './retry.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RestRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: Query;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Whole-request deadline; watches pass 0 and rely on the server's timeoutSeconds. */
  readonly timeoutMs?: number;
}

/** Default deadline of a non-watch request, like client-go's default for most calls. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** `path?k=v&…` without the empty values; built by hand, as URLSearchParams costs more than it saves. */
function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  let qs = '';
  for (const k in query) {
    const v = query[k];
    if (v === undefined || v === '') continue;
    qs += `${qs ? '&' : '?'}${encodeURIComponent(k)}=${encodeURIComponent(v)}`;
  }
  return path + qs;
}

/**
 * The `Impersonate-*` headers. An extra's key is percent-encoded, as the API server unescapes it:
 * `/` or a space is no header name character. encodeURIComponent leaves only `(` and `)` of those.
 */
function impersonationHeaders(imp: Impersonation): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { 'impersonate-user': imp.user };
  if (imp.uid) h['impersonate-uid'] = imp.uid;
  if (imp.groups?.length) h['impersonate-group'] = [...imp.groups];
  for (const [key, values] of Object.entries(imp.extra ?? {})) {
    const name = encodeURIComponent(key).replace(/[()]/g, (c) => (c === '(' ? '%28' : '%29'));
    if (values.length) h[`impersonate-extra-${name}`] = [...values];
  }
  return h;
}

/** A GET whose connection was reset before it was answered, with the error it fails with if not sent again. */
class ResetGet {
  constructor(readonly error: UnavailableError) {}
}

/** JSON over HTTPS to one API server, with keep-alive, deadlines and typed errors. */
export class Transport {
  /** Who requests act as: the caller's choice, else the kubeconfig's `as*`, else nobody. */
  private readonly identity: OutgoingHttpHeaders;

  constructor(
    readonly connection: Connection,
    private readonly impersonate?: Impersonation,
    private readonly userAgent = 'tutti',
    /** Cuts off every request in flight when it aborts, and refuses new ones after. */
    private readonly fence?: AbortSignal,
    /** The sockets requests go out on: the shared pool, or the connection's dedicated ones. */
    readonly pool: 'requests' | 'dedicated' = 'requests',
  ) {
    const imp = impersonate ?? connection.impersonate;
    this.identity = imp ? impersonationHeaders(imp) : {};
  }

  with(impersonate: Impersonation | undefined): Transport {
    return new Transport(this.connection, impersonate, this.userAgent, this.fence, this.pool);
  }

  /** The same transport, its every request also ended by `fence` (see KubeClient.fencedBy). */
  fencedBy(fence: AbortSignal): Transport {
    return new Transport(this.connection, this.impersonate, this.userAgent, fence, this.pool);
  }

  /** The same transport on the connection's dedicated sockets (see KubeClient.dedicated). */
  dedicated(): Transport {
    return new Transport(this.connection, this.impersonate, this.userAgent, this.fence, 'dedicated');
  }

  async headers(extra: OutgoingHttpHeaders = {}): Promise<OutgoingHttpHeaders> {
    return this.headersWith(await this.connection.authHeaders(), extra);
  }

  private headersWith(auth: OutgoingHttpHeaders, extra: OutgoingHttpHeaders): OutgoingHttpHeaders {
    return { ...auth, 'user-agent': this.userAgent, accept: 'application/json', ...extra, ...this.identity };
  }

  /** Sends one request and resolves with the response as JSON; an error status throws ApiError. */
  async json<T>(req: RestRequest): Promise<T> {
    return (await this.parsed(req)).parsed as T;
  }

  /** Like json(), but an answer that is not JSON (`/readyz` says `ok`) resolves as its text. */
  async jsonOrText<T>(req: RestRequest): Promise<T | string> {
    const { text, parsed } = await this.parsed(req);
    return parsed === undefined && text ? text : (parsed as T);
  }

  private async parsed(req: RestRequest): Promise<{ text: string; parsed: unknown }> {
    const res = await this.send(req);
    const text = await readBody(res, req);
    const parsed = text ? safeJson(text) : undefined;
    if ((res.statusCode ?? 0) >= 400) throw this.errorOf(res.statusCode ?? 0, parsed, text, req);
    return { text, parsed };
  }

  /**
   * Sends one request whose response body the caller does not need: on success the body is
   * drained unparsed (parsing it costs as much as sending the request); an error status throws.
   */
  async sendDiscarding(req: RestRequest): Promise<void> {
    const res = await this.send(req);
    await this.throwIfFailed(res, req);
    res.resume();
    // Its end gives the socket back for the caller's next request; the request was answered, so a
    // broken body changes nothing.
    await finished(res).catch(() => {});
  }

  /** Opens a streaming response (a watch); the caller reads and destroys it. */
  async stream(req: RestRequest): Promise<IncomingMessage> {
    const res = await this.send({ ...req, timeoutMs: req.timeoutMs ?? 0 }, 'streams');
    await this.throwIfFailed(res, req);
    return res;
  }

  /** An error status's body read and thrown as ApiError; a success is left unread for the caller. */
  private async throwIfFailed(res: IncomingMessage, req: RestRequest): Promise<void> {
    if ((res.statusCode ?? 0) < 400) return;
    const text = await readBody(res, req);
    throw this.errorOf(res.statusCode ?? 0, safeJson(text), text, req);
  }

  private errorOf(code: number, parsed: unknown, text: string, req: RestRequest): ApiError {
    const status = (parsed as StatusBody | undefined) ?? { message: text.slice(0, 500) };
    return apiErrorFrom(code, status, { method: req.method, path: req.path });
  }

  /**
   * One request on the requests' pool (or the dedicated sockets) or, for a stream, a socket of
   * its own, sent again when the server did not act on it:
   * - a 401 renews the credentials once (a token revoked or rotated before it expired) and, when
   *   new ones came, sends the request again;
   * - a 429 or 5xx with `Retry-After` is sent again after the advised wait, up to
   *   MAX_RETRY_AFTER_RETRIES times, as client-go does; a wait that would outlast the request's
   *   deadline is not begun, and the answer stands;
   * - a failure on a kept-alive socket the server had just closed is sent once more, on a new
   *   connection, if writing the request failed or it is one whose repeat changes nothing
   *   (mayResendOnNewConnection): a POST or PATCH the server may have read is not;
   * - a GET whose connection was reset or closed before it was answered is sent again after
   *   RESET_RETRY_WAIT_MS, as client-go does, within the same MAX_RETRY_AFTER_RETRIES and
   *   deadline; other verbs are not, as the server may have acted on them. Only the request: once answered,
   *   a body (a watch) that breaks is the caller's to handle.
   * The deadline covers every attempt and every wait; `signal` ends any of them, and so does the
   * connection's close(), after which nothing is sent (ClientClosedError).
   */
  private async send(
    req: RestRequest,
    pool: 'requests' | 'dedicated' | 'streams' = this.pool,
  ): Promise<IncomingMessage> {
    if (!this.fence) return this.sendAgain(req, pool);
    this.fence.throwIfAborted();
    const { signal, dispose } = eitherSignal(...(req.signal ? [req.signal] : []), this.fence);
    try {
      return await this.sendAgain({ ...req, signal }, pool);
    } finally {
      dispose();
    }
  }

  private async sendAgain(
    req: RestRequest,
    pool: 'requests' | 'dedicated' | 'streams',
  ): Promise<IncomingMessage> {
    const timeoutMs = req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    let renewed = false;
    let resent = false;
    let retries = 0;
    /** Whether one more retry, after waiting `waitMs`, is within the budget and the deadline. */
    const mayRetryAfter = (waitMs: number) =>
      retries < MAX_RETRY_AFTER_RETRIES && (deadline === undefined || Date.now() + waitMs < deadline);
    // Closing the connection ends this request wherever it is, and it is not sent again.
    const { closed } = this.connection;
    const limits = { deadline, timeoutMs, closed };
    for (;;) {
      closed.throwIfAborted();
      const credentials = this.connection.authHeaders();
      const auth = this.connection.credentialsMayWait
        ? await this.credentialsWithin(credentials, req, limits)
        : await credentials;
      // Called off before it was sent: Node would hold it until a socket came free.
      req.signal?.throwIfAborted();
      const res = await this.attempt(req, pool, auth, limits, !resent);
      if (res === 'stale-socket') {
        resent = true;
        continue;
      }
      if (res instanceof ResetGet) {
        if (!mayRetryAfter(RESET_RETRY_WAIT_MS)) throw res.error;
        retries++;
        await this.wait(RESET_RETRY_WAIT_MS, req.signal, closed);
        continue;
      }
      if (
        res.statusCode === 401 &&
        !renewed &&
        (await this.credentialsWithin(this.connection.renewCredentials(auth), req, limits))
      ) {
        renewed = true;
        res.resume();
        continue;
      }
      const waitSeconds = retryAfterSeconds(res.statusCode ?? 0, res.headers['retry-after']);
      if (waitSeconds === undefined) return res;
      const waitMs = waitSeconds * 1000;
      if (!mayRetryAfter(waitMs)) return res;
      retries++;
      res.resume();
      await this.wait(waitMs, req.signal, closed);
    }
  }

  /**
   * Waits for credentials (an exec plugin running) as for the rest of the request: until its
   * signal aborts, the connection closes or its deadline passes, whichever comes first. The
   * plugin runs on for the requests after.
   */
  private async credentialsWithin<T>(
    credentials: Promise<T>,
    req: RestRequest,
    limits: { deadline: number | undefined; timeoutMs: number; closed: AbortSignal },
  ): Promise<T> {
    const { deadline, timeoutMs, closed } = limits;
    // Its failure, once no request waits for it, is the next request's to hear.
    credentials.catch(() => {});
    const cut = eitherSignal(closed, ...(req.signal ? [req.signal] : []));
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const cutOff = new Promise<never>((_, reject) => {
      onAbort = () => reject(cut.signal.reason);
      if (cut.signal.aborted) onAbort();
      else cut.signal.addEventListener('abort', onAbort, { once: true });
      if (deadline !== undefined) {
        timer = setTimeout(
          () => {
            const target = { method: req.method, path: req.path };
            const message = `${req.method} ${req.path}: no credentials within ${timeoutMs} ms: the kubeconfig's credential plugin has not answered`;
            reject(new UnavailableError(0, 'ServiceUnavailable', message, {}, target));
          },
          Math.max(0, deadline - Date.now()),
        );
      }
    });
    try {
      return await Promise.race([credentials, cutOff]);
    } finally {
      clearTimeout(timer);
      cut.signal.removeEventListener('abort', onAbort);
      cut.dispose();
    }
  }

  /** Waits before a retry until `signal` aborts or the connection closes. */
  private async wait(ms: number, signal: AbortSignal | undefined, closed: AbortSignal): Promise<void> {
    if (!signal) return pause(ms, closed);
    const either = eitherSignal(signal, closed);
    try {
      await pause(ms, either.signal);
    } finally {
      either.dispose();
    }
  }

  /**
   * Sends the request once. Resolves 'stale-socket' instead of failing when `mayResend` and it
   * went out on a kept-alive socket that the server had closed, unless the server may have acted
   * on it, and a ResetGet when it is a GET whose connection was reset.
   */
  private attempt(
    req: RestRequest,
    pool: 'requests' | 'dedicated' | 'streams',
    auth: OutgoingHttpHeaders,
    limits: { deadline: number | undefined; timeoutMs: number; closed: AbortSignal },
    mayResend: boolean,
  ): Promise<IncomingMessage | 'stale-socket' | ResetGet> {
    const { deadline, timeoutMs, closed } = limits;
    const target = { method: req.method, path: req.path };
    const payload =
      req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers = this.headersWith(
      auth,
      payload === undefined
        ? {}
        : {
            'content-type': req.contentType ?? 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
    );
    const url = this.connection.server;
    const basePath = url.pathname.replace(/\/$/, '');
    return new Promise((resolve, reject) => {
      const r = httpsRequest(
        {
          // Read per attempt: a renewed client certificate comes with new agents.
          agent:
            pool === 'streams'
              ? this.connection.streamAgent
              : pool === 'dedicated'
                ? this.connection.dedicatedAgent
                : this.connection.agent,
          host: url.hostname,
          port: url.port || 443,
          method: req.method,
          path: basePath + withQuery(req.path, req.query),
          headers,
          signal: req.signal,
        },
        (res) => {
          // The deadline covers the whole body too: a server that stalls mid-response must not hang us.
          if (timer) res.once('close', () => clearTimeout(timer));
          resolve(res);
        },
      );
      const timer =
        deadline !== undefined
          ? setTimeout(
              () => {
                const late = new Error(`no complete response within ${timeoutMs} ms`);
                r.destroy(late);
                // Still queued for a socket, it would hear of it only once given one (below).
                if (!r.socket) reject(connectionError(late, target));
              },
              Math.max(0, deadline - Date.now()),
            )
          : undefined;
      // A request still queued for one of the pool's sockets learns of its abort, or its deadline,
      // only once it is given one, which a pool of hung requests may not do for a long time: it
      // ends here.
      const { signal } = req;
      if (signal) {
        const onAbort = () => {
          if (r.socket) return;
          if (timer) clearTimeout(timer);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        r.once('socket', () => signal.removeEventListener('abort', onAbort));
        r.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      r.on('error', (err: NodeJS.ErrnoException) => {
        if (timer) clearTimeout(timer);
        if (req.signal?.aborted) reject(req.signal.reason ?? err);
        else if (closed.aborted) reject(closed.reason);
        else if (
          mayResend &&
          isStaleSocketFailure(err, r.reusedSocket) &&
          mayResendOnNewConnection(req.method, req.body, err.syscall === 'write')
        )
          resolve('stale-socket');
        else {
          const { server, origin } = this.connection;
          const failure = tlsError(err, target, server, origin.kubeconfig) ?? connectionError(err, target);
          if (isResetGet(req.method, err)) resolve(new ResetGet(failure));
          else reject(failure);
        }
      });
      r.end(payload);
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readBody(res: IncomingMessage, req: RestRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => reject(connectionError(err, { method: req.method, path: req.path })));
    res.on('aborted', () =>
      reject(connectionError(new Error('response aborted'), { method: req.method, path: req.path })),
    );
  });
}
