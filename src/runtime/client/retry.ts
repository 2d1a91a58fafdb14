import { setTimeout as delay } from 'node:timers/promises';

/**
 * How many times a request is sent again when the server asks for it with `Retry-After`, or when
 * a GET's connection was reset (one budget for both): client-go's default (rest.Request's
 * maxRetries), after which the answer, or the connection's failure, is the error.
 */
export const MAX_RETRY_AFTER_RETRIES = 10;

/** How long a GET whose connection was reset waits before it is sent again: client-go's second. */
export const RESET_RETRY_WAIT_MS = 1000;

/**
 * The seconds the server asks us to wait before sending the request again, or undefined when it
 * does not ask. As client-go reads it: only a 429 or a 5xx asks, only with a `Retry-After` of whole
 * seconds (an HTTP date, or a 5xx without the header, is an answer, not a request to retry). Any
 * verb qualifies: the server says it did not act on the request.
 */
export function retryAfterSeconds(status: number, header: string | string[] | undefined): number | undefined {
  if (status !== 429 && status < 500) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}

/**
 * A request that failed on a kept-alive socket the server may have closed as it sat idle (Node's
 * `request.reusedSocket` case; a "socket hang up" carries ECONNRESET too). Whether the server read
 * it first is another matter: see mayResendOnNewConnection.
 */
export function isStaleSocketFailure(err: NodeJS.ErrnoException, reusedSocket: boolean): boolean {
  return reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
}

/**
 * Whether a request whose kept-alive socket failed before an answer may be sent again on a new
 * one, as Go's transport decides: any request whose own write failed (`writeFailed`: the socket
 * was reset before it took all of it, so the server cannot have it whole); else only one whose
 * repeat changes nothing the first did not: a GET, a DELETE (a repeat finds the object gone:
 * NotFound), or a PUT carrying a resourceVersion (a compare-and-swap: a repeat after it was
 * applied is a Conflict). A POST or PATCH, or a PUT without one, that went out the server may
 * have carried out: sent twice, a create would meet itself (AlreadyExists) and a JSON patch
 * apply twice.
 */
export function mayResendOnNewConnection(method: string, body: unknown, writeFailed: boolean): boolean {
  if (writeFailed) return true;
  if (method === 'GET' || method === 'DELETE') return true;
  return method === 'PUT' && hasResourceVersion(body);
}

function hasResourceVersion(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const metadata = (body as { metadata?: { resourceVersion?: unknown } }).metadata;
  return typeof metadata?.resourceVersion === 'string' && metadata.resourceVersion !== '';
}

/**
 * A GET whose connection was reset or closed before it was answered, which client-go sends again
 * (`net.IsConnectionReset(err) || net.IsProbableEOF(err)`): Node says ECONNRESET for both (a
 * "socket hang up" is the early EOF), EPIPE for a request written to a closed connection. Only a
 * GET: another verb may have been carried out before the connection broke.
 */
export function isResetGet(method: string, err: NodeJS.ErrnoException): boolean {
  return method === 'GET' && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
}

/** Waits `ms`, or rejects with the signal's own reason as soon as it aborts. */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}
