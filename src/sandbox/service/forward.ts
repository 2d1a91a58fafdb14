import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { PEER_HEADER, type Peer } from './peers.js';

/** Response headers passed on from a peer; hop-by-hop ones (connection, transfer-encoding) are not. */
const PASSED_HEADERS = ['content-type', 'cache-control', 'x-accel-buffering', 'retry-after', 'location'];

/**
 * Sends a GET to a peer and streams its answer to `res` as it arrives (server-sent events
 * included), with the peer's status. `pipe` carries backpressure both ways: a slow client slows
 * the reads from the peer. A client that goes away ends the request to the peer.
 *
 * Rejects when the peer gives no response headers within `timeoutMs` (refused, unreachable, hung),
 * with nothing sent to `res`; a peer failing after that cuts the client's response short.
 */
export function forwardGet(
  peer: Peer,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    // Last-Event-ID goes along: a reconnecting event stream resumes on the replica holding the run.
    const lastEventId = req.headers['last-event-id'];
    const upstream = peerGet(peer, path, req.headers.accept ?? '*/*', {
      ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}),
    });
    const timer = setTimeout(
      () => upstream.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let clientGone = false;
    const onClientClose = () => {
      clientGone = true;
      upstream.destroy();
    };
    res.on('close', onClientClose);
    const done = () => {
      clearTimeout(timer);
      res.off('close', onClientClose);
      resolve();
    };
    upstream.on('error', (err) => {
      if (clientGone || res.headersSent) {
        res.destroy();
        return done();
      }
      clearTimeout(timer);
      res.off('close', onClientClose);
      reject(err);
    });
    upstream.on('response', (up) => {
      clearTimeout(timer);
      res.writeHead(up.statusCode ?? 502, passed(up.headers));
      // An event stream's headers go out now, not with its first event.
      res.flushHeaders();
      up.pipe(res);
      up.on('end', done);
      up.on('error', () => {
        res.destroy();
        done();
      });
    });
    upstream.end();
  });
}

/** GETs a peer's JSON answer, all of it within `timeoutMs`. */
export function getJson(peer: Peer, path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const upstream = peerGet(peer, path, 'application/json');
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err); // only the first settles the promise
      upstream.destroy();
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    upstream.on('error', fail);
    upstream.on('response', (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('error', fail);
      up.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        if (up.statusCode !== 200) return reject(new Error(`answered ${up.statusCode}: ${text.trim()}`));
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new Error(`answered with invalid JSON: ${(err as Error).message}`));
        }
      });
    });
    upstream.end();
  });
}

/** A GET to a peer, marked as one so that it is answered locally. */
function peerGet(peer: Peer, path: string, accept: string, headers: IncomingHttpHeaders = {}) {
  return request({
    host: peer.host,
    port: peer.port,
    path,
    method: 'GET',
    headers: { ...headers, accept, [PEER_HEADER]: '1' },
  });
}

function passed(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of PASSED_HEADERS) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
