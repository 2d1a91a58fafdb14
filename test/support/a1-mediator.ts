import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface A1Mediator {
  readonly url: string;
  /** Policies by `<type>/<id>`. */
  readonly policies: Map<string, unknown>;
  /** `METHOD path` of every request, in order. */
  readonly requests: string[];
  /** When set, every request is answered with this status (a mediator in trouble). */
  failWith?: number;
}

/**
 * A stand-in A1 mediator (none can run here) speaking the A1-P contract: policies by type and id
 * on the legacy path, by id on the standard path; PUT creates (201) or replaces (200), DELETE
 * answers 204, or 404 for an unknown policy; a non-JSON body is 400. Closed when the test ends.
 */
export async function a1Mediator(t: TestContext): Promise<A1Mediator> {
  const policies = new Map<string, unknown>();
  const requests: string[] = [];
  const mediator: { -readonly [K in keyof A1Mediator]: A1Mediator[K] } = { url: '', policies, requests };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      if (mediator.failWith) return void res.writeHead(mediator.failWith).end('mediator unavailable');
      const m =
        /^\/A1-P\/v2\/policytypes\/(\d+)\/policies\/([^/]+)$/.exec(req.url ?? '') ??
        /^\/v2\/policies\/([^/]+)$/.exec(req.url ?? '');
      if (!m) return void res.writeHead(404).end();
      const key = m.length === 3 ? `${m[1]}/${m[2]}` : `100/${m[1]}`;
      if (req.method === 'PUT') {
        try {
          const existed = policies.has(key);
          policies.set(key, JSON.parse(body));
          return void res.writeHead(existed ? 200 : 201).end();
        } catch {
          return void res.writeHead(400).end('body is not JSON');
        }
      }
      if (req.method === 'DELETE') {
        if (!policies.delete(key)) return void res.writeHead(404).end('no such policy');
        return void res.writeHead(204).end();
      }
      res.writeHead(405).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  mediator.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mediator;
}
