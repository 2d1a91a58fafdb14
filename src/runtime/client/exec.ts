import WebSocket from 'ws';
import type { KubeClient } from './client.js';
import { type StatusBody, tlsError } from './errors.js';
import { Pods } from './kinds.js';

export interface ExecOptions {
  container?: string;
  /** Sent to the command's stdin, which is then closed. */
  stdin?: string | Buffer;
  /** Ends the exec (and rejects) when the command has not finished by then. */
  timeoutMs?: number;
  /** Output kept per stream; the rest is dropped and `truncated` set. Default 10 MiB. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /**
   * Called with each piece of output as it arrives, so callers can stream it. Gets exactly the
   * bytes that are kept (up to maxOutputBytes per stream), so a stream's chunks add up to its
   * result. A chunk may end inside a line or a multi-byte character.
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /**
   * How often a WebSocket ping goes to the API server, so that a connection that stalls without
   * closing is noticed. Default 10 s; 0 sends none and turns the keepalive deadline off.
   */
  keepaliveIntervalMs?: number;
  /**
   * The exec fails with ExecStalledError when nothing (a pong, output, the handshake's answer)
   * has come from the API server for this long. Default 30 s; must exceed keepaliveIntervalMs.
   */
  keepaliveTimeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** True when stdout or stderr exceeded maxOutputBytes and was cut. */
  truncated: boolean;
}

/** The exec could not run or did not finish: not a command's own non-zero exit. */
export class ExecError extends Error {
  override name = 'ExecError';
  constructor(
    message: string,
    readonly status?: StatusBody,
  ) {
    super(message);
  }
}

/**
 * The connection to the API server stopped answering (no pong, output or handshake answer within
 * the keepalive deadline) while not closing: the command may still be running, or may have ended.
 */
export class ExecStalledError extends ExecError {
  override name = 'ExecStalledError';
  constructor(
    message: string,
    /** How long the API server had been silent when the exec was ended. */
    readonly silentMs: number,
  ) {
    super(message);
  }
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
/** v5 only: closes the channel named by the next byte (used for stdin EOF). */
const CLOSE = 255;
const DEFAULT_MAX_OUTPUT = 10 * 1024 * 1024;
const DEFAULT_KEEPALIVE_INTERVAL = 10_000;
const DEFAULT_KEEPALIVE_TIMEOUT = 30_000;

class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  /** Keeps what fits under the cap and returns it (empty when nothing did). */
  push(data: Buffer): Buffer {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated ||= data.length > 0;
      return data.subarray(0, 0);
    }
    const part = data.length > room ? data.subarray(0, room) : data;
    if (part.length < data.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
    return part;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Reads the exit code out of the status the server sends on the error channel. */
export function exitCodeOf(status: StatusBody): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason !== 'NonZeroExitCode') return undefined;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : undefined;
}

/** What is wrong with a keepalive setting (defaults filled in), if anything. */
export function keepaliveProblem(intervalMs?: number, timeoutMs?: number): string | undefined {
  const pingEvery = intervalMs ?? DEFAULT_KEEPALIVE_INTERVAL;
  const silentFor = timeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT;
  if (pingEvery > 0 && !(silentFor > pingEvery)) {
    return `keepaliveTimeoutMs (${silentFor}) must exceed keepaliveIntervalMs (${pingEvery}), or a quiet command would fail between pings`;
  }
  return undefined;
}

/**
 * Runs `command` in a pod through the API server's exec subresource (WebSocket, channel protocol
 * v5 with v4 as fallback) and resolves once the command has finished, with its output and exit
 * code. A non-zero exit resolves; failing to run the command rejects with ExecError, or with a
 * TlsError (as any request does) when the TLS handshake with the API server failed.
 */
export async function execInPod(
  client: KubeClient,
  namespace: string,
  pod: string,
  command: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  if (command.length === 0) throw new ExecError('exec needs a command');
  const problem = keepaliveProblem(opts.keepaliveIntervalMs, opts.keepaliveTimeoutMs);
  if (problem) throw new ExecError(`exec ${problem}`);
  const pingEvery = opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL;
  const silentFor = opts.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT;
  const conn = client.transport.connection;
  const params = new URLSearchParams();
  for (const c of command) params.append('command', c);
  params.set('stdout', 'true');
  params.set('stderr', 'true');
  if (opts.stdin !== undefined) params.set('stdin', 'true');
  if (opts.container) params.set('container', opts.container);
  const execPath = await client.path(Pods, namespace, pod, 'exec');
  const url = new URL(`${conn.server.pathname.replace(/\/$/, '')}${execPath}?${params}`, conn.server);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  const headers = await client.transport.headers();
  const stdout = new CappedBuffer(opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);
  const stderr = new CappedBuffer(opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT);

  return new Promise<ExecResult>((resolve, reject) => {
    const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
      ...conn.tls,
      // Through the kubeconfig's proxy, the streams' agent opens the tunnel.
      ...(conn.proxy ? { agent: conn.streamAgent } : {}),
      headers: headers as Record<string, string>,
    });
    let status: StatusBody | undefined;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(silence);
      clearInterval(pings);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) {
        ws.terminate();
        reject(err);
        return;
      }
      if (!status) {
        reject(new ExecError(`exec in ${namespace}/${pod} ended without reporting how the command finished`));
        return;
      }
      const exitCode = exitCodeOf(status);
      if (exitCode === undefined) {
        reject(
          new ExecError(
            `exec in ${namespace}/${pod} failed: ${status.message ?? status.reason ?? 'unknown'}`,
            status,
          ),
        );
        return;
      }
      resolve({
        stdout: stdout.text(),
        stderr: stderr.text(),
        exitCode,
        truncated: stdout.truncated || stderr.truncated,
      });
    };
    const deliver = (stream: 'stdout' | 'stderr', kept: Buffer) => {
      if (kept.length === 0 || settled || !opts.onOutput) return;
      try {
        opts.onOutput(stream, kept);
      } catch (err) {
        // A failing listener must not leave the remote command running unobserved.
        finish(new ExecError(`exec in ${namespace}/${pod}: onOutput failed: ${(err as Error).message}`));
      }
    };
    const onAbort = () => finish(new ExecError(`exec in ${namespace}/${pod} was aborted`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeoutMs
      ? setTimeout(
          () =>
            finish(
              new ExecError(`command in ${namespace}/${pod} did not finish within ${opts.timeoutMs} ms`),
            ),
          opts.timeoutMs,
        )
      : undefined;

    // Nothing else notices a peer that went silent without closing (a stalled proxy, a lost
    // route): the socket stays open and the exec would wait for the command's timeout, or for ever.
    let opened = false;
    const silence =
      pingEvery > 0
        ? setTimeout(() => {
            const secs = silentFor / 1000;
            finish(
              new ExecStalledError(
                opened
                  ? `exec in ${namespace}/${pod}: the connection to the API server stopped answering for ${secs} s; ` +
                      'the command may still be running or may have ended, its outcome is unknown'
                  : `exec in ${namespace}/${pod}: the API server did not answer the exec request within ${secs} s`,
                silentFor,
              ),
            );
          }, silentFor)
        : undefined;
    const heard = () => silence?.refresh();
    let pings: NodeJS.Timeout | undefined;
    ws.on('pong', heard);
    ws.on('ping', heard);

    ws.on('open', () => {
      opened = true;
      heard();
      if (pingEvery > 0) {
        pings = setInterval(() => {
          // A failed send shows as the socket's 'error' or 'close'.
          if (ws.readyState === WebSocket.OPEN) ws.ping(undefined, undefined, () => {});
        }, pingEvery);
      }
      if (opts.stdin === undefined) return;
      const data = typeof opts.stdin === 'string' ? Buffer.from(opts.stdin) : opts.stdin;
      if (data.length > 0) ws.send(Buffer.concat([Buffer.from([STDIN]), data]));
      if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([CLOSE, STDIN]));
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      heard();
      const data = isBinary ? raw : Buffer.from(raw);
      if (data.length === 0) return;
      const payload = data.subarray(1);
      switch (data[0]) {
        case STDOUT:
          deliver('stdout', stdout.push(payload));
          break;
        case STDERR:
          deliver('stderr', stderr.push(payload));
          break;
        case ERROR:
          if (payload.length > 0) {
            try {
              status = JSON.parse(payload.toString('utf8')) as StatusBody;
            } catch {
              status = { status: 'Failure', message: payload.toString('utf8') };
            }
          }
          break;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        let parsed: StatusBody | undefined;
        try {
          parsed = JSON.parse(body) as StatusBody;
        } catch {
          // not a Status
        }
        finish(
          new ExecError(
            `exec in ${namespace}/${pod}: HTTP ${res.statusCode}: ${parsed?.message ?? body.slice(0, 300)}`,
            parsed,
          ),
        );
      });
    });
    ws.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        tlsError(err, { method: 'GET', path: execPath }, conn.server, conn.origin.kubeconfig) ??
          new ExecError(`exec in ${namespace}/${pod}: ${err.message}`),
      ),
    );
    // The server closes the stream after the command ended and the status was sent.
    ws.on('close', () => finish());
  });
}
