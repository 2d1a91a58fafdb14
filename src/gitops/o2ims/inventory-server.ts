import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { KubeClient } from '../../runtime/client/client.js';
import { Namespaces, Nodes } from '../../runtime/client/kinds.js';
import { type Drain, drainable, listen } from '../../runtime/http-server.js';
import { type AlarmEventRecord, buildAlarms } from './alarms.js';
import { buildInventory, type Inventory } from './inventory.js';
import {
  newSubscription,
  SubscriptionError,
  type SubscriptionInfo,
  type SubscriptionStore,
} from './subscriptions.js';

export const INVENTORY_PREFIX = '/o2ims-infrastructureInventory';
export const MONITORING_PREFIX = '/o2ims-infrastructureMonitoring';
export const INVENTORY_API_VERSION = '1.0.0';
export const DEFAULT_INVENTORY_PORT = 8090;
/** How long stop() lets requests under way finish: a subscription created but not answered would be made twice. */
export const DEFAULT_INVENTORY_STOP_GRACE_MS = 10_000;

/** A path segment decoded; undefined for a malformed escape (`%E0`), the client's error. */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** An RFC 7807 ProblemDetails answer, as O2IMS errors are. */
function problem(res: ServerResponse, status: number, title: string, detail: string, instance: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail, instance }));
}

/**
 * The O2IMS infrastructure inventory (with its subscriptions) and monitoring APIs over HTTP, read from the cluster on
 * every request (so they are never stale):
 *
 *   GET /o2ims-infrastructureInventory/api_versions, /v1/api_versions
 *   GET /o2ims-infrastructureInventory/v1                                   the O-Cloud
 *   GET /o2ims-infrastructureInventory/v1/deploymentManagers[/{deploymentManagerId}]
 *   GET /o2ims-infrastructureInventory/v1/resourceTypes[/{resourceTypeId}]
 *   GET /o2ims-infrastructureInventory/v1/resourcePools[/{resourcePoolId}]
 *   GET /o2ims-infrastructureInventory/v1/resourcePools/{resourcePoolId}/resources[/{resourceId}]
 *   GET, POST /o2ims-infrastructureInventory/v1/subscriptions; GET, DELETE …/subscriptions/{id}
 *   GET /o2ims-infrastructureMonitoring/v1/alarms[/{alarmEventRecordId}]
 */
export class InventoryServer {
  private drain?: Drain;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: {
      name: string;
      host?: string;
      /** Where subscriptions are kept; without it /subscriptions answers 404. */
      subscriptions?: SubscriptionStore;
    },
  ) {}

  async start(port = DEFAULT_INVENTORY_PORT): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) problem(res, 503, 'Service Unavailable', err.message, req.url ?? '');
        else res.end();
      });
    });
    const drain = drainable(server);
    const bound = await listen(server, port, this.opts.host ?? '127.0.0.1');
    this.drain = drain;
    return bound;
  }

  /** Stops accepting requests; those under way finish, for up to `graceMs`, before being cut. */
  async stop(graceMs = DEFAULT_INVENTORY_STOP_GRACE_MS): Promise<void> {
    const drain = this.drain;
    this.drain = undefined;
    await drain?.(graceMs);
  }

  /** The inventory as it is now; `serviceUri` is how clients reach this server. */
  async inventory(serviceUri = `http://localhost${INVENTORY_PREFIX}/v1`): Promise<Inventory> {
    const [kubeSystem, nodes, version] = await Promise.all([
      this.client.get(Namespaces, 'kube-system'),
      this.client.listAll(Nodes),
      this.client.raw<{ gitVersion?: string }>('/version').catch(() => ({ gitVersion: undefined })),
    ]);
    return buildInventory({
      clusterId: kubeSystem.metadata!.uid!,
      name: this.opts.name,
      serviceUri,
      kubernetesVersion: version.gitVersion,
      apiServer: this.client.transport.connection.server.toString().replace(/\/$/, ''),
      nodes: nodes.items,
    });
  }

  private async alarms(): Promise<AlarmEventRecord[]> {
    const inv = await this.inventory();
    const nodes = await this.client.listAll(Nodes);
    return buildAlarms(nodes.items, inv.resources);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    const allowed = allowedMethods(path);
    if (!allowed.includes(req.method ?? '')) {
      res.setHeader('allow', allowed.join(', '));
      return problem(
        res,
        405,
        'Method Not Allowed',
        `${req.method} is not supported here; only ${allowed.join(', ')}`,
        path,
      );
    }
    // filter, fields and exclude_fields are not implemented: say so rather than ignore them.
    const [param] = url.searchParams.keys();
    if (param !== undefined)
      return problem(res, 400, 'Bad Request', `query parameter ${param} is not supported`, path);
    const send = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const one = <T>(items: T[], match: (t: T) => boolean, what: string, id: string) => {
      const found = items.find(match);
      return found ? send(found) : problem(res, 404, 'Not Found', `${what} ${id} not found`, path);
    };
    const api = [INVENTORY_PREFIX, MONITORING_PREFIX].find((p) => path === p || path.startsWith(`${p}/`));
    if (!api)
      return problem(
        res,
        404,
        'Not Found',
        `no route ${path}; the APIs are under ${INVENTORY_PREFIX}/v1 and ${MONITORING_PREFIX}/v1`,
        path,
      );
    const versions = { uriPrefix: `${api}/v1`, apiVersions: [{ version: INVENTORY_API_VERSION }] };
    if (path === `${api}/api_versions` || path === `${api}/v1/api_versions`) return send(versions);
    if (path !== `${api}/v1` && !path.startsWith(`${api}/v1/`))
      return problem(res, 404, 'Not Found', `no route ${path}; this API is under ${api}/v1`, path);
    const segments = path.slice(`${api}/v1`.length).split('/').filter(Boolean);
    const bad = segments.find((segment) => decodePathSegment(segment) === undefined);
    if (bad !== undefined)
      return problem(
        res,
        400,
        'Bad Request',
        `path segment "${bad}" is not a valid percent-encoded path segment`,
        path,
      );
    const parts = segments.map((segment) => decodePathSegment(segment)!);
    const [collection, id, sub, subId, ...rest] = parts;
    if (rest.length) return problem(res, 404, 'Not Found', `no route ${path}`, path);

    if (api === MONITORING_PREFIX) {
      if (collection !== 'alarms' || sub) return problem(res, 404, 'Not Found', `no route ${path}`, path);
      const alarms = await this.alarms();
      if (!id) return send(alarms);
      return one(alarms, (a) => a.alarmEventRecordId === id, 'alarm', id);
    }

    if (collection === 'subscriptions') return this.subscriptions(req, res, path, id, sub);
    const inv = await this.inventory(`http://${req.headers.host ?? 'localhost'}${INVENTORY_PREFIX}/v1`);
    if (!collection) return send(inv.oCloud);
    if (collection === 'deploymentManagers' && !sub) {
      if (!id) return send(inv.deploymentManagers);
      return one(inv.deploymentManagers, (d) => d.deploymentManagerId === id, 'deployment manager', id);
    }
    if (collection === 'resourceTypes' && !sub) {
      if (!id) return send(inv.resourceTypes);
      return one(inv.resourceTypes, (t) => t.resourceTypeId === id, 'resource type', id);
    }
    if (collection === 'resourcePools') {
      if (!id) return send(inv.resourcePools);
      const pool = inv.resourcePools.find((p) => p.resourcePoolId === id);
      if (!pool) return problem(res, 404, 'Not Found', `resource pool ${id} not found`, path);
      if (!sub) return send(pool);
      if (sub === 'resources') {
        const inPool = inv.resources.filter((r) => r.resourcePoolId === id);
        if (!subId) return send(inPool);
        return one(inPool, (r) => r.resourceId === subId, 'resource', subId);
      }
    }
    return problem(res, 404, 'Not Found', `no route ${path}`, path);
  }

  private async subscriptions(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    id: string | undefined,
    sub: string | undefined,
  ): Promise<void> {
    const store = this.opts.subscriptions;
    if (!store || sub)
      return problem(
        res,
        404,
        'Not Found',
        store ? `no route ${path}` : 'subscriptions are not enabled here',
        path,
      );
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (!id) {
      if (req.method === 'GET') return json(200, await store.list());
      let created: SubscriptionInfo;
      try {
        created = newSubscription(await readJson(req));
      } catch (err) {
        if (err instanceof SubscriptionError) return problem(res, 400, 'Bad Request', err.message, path);
        throw err;
      }
      await store.create(created);
      return json(201, created, {
        location: `${INVENTORY_PREFIX}/v1/subscriptions/${created.subscriptionId}`,
      });
    }
    if (req.method === 'DELETE') {
      if (!(await store.delete(id)))
        return problem(res, 404, 'Not Found', `subscription ${id} not found`, path);
      res.writeHead(204).end();
      return;
    }
    const found = await store.get(id);
    return found ? json(200, found) : problem(res, 404, 'Not Found', `subscription ${id} not found`, path);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON body; a body that is not JSON or too large is the client's error. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new SubscriptionError('(body)', `exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new SubscriptionError('(body)', 'is not valid JSON');
  }
}

/** The methods a path answers: subscriptions are created and deleted; the rest is read-only. */
function allowedMethods(path: string): string[] {
  const sub = /\/v1\/subscriptions(\/[^/]+)?$/.exec(path);
  if (!path.startsWith(INVENTORY_PREFIX) || !sub) return ['GET'];
  return sub[1] ? ['GET', 'DELETE'] : ['GET', 'POST'];
}
