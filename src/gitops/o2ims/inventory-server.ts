import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../../runtime/client/client.js';
import { Namespaces, Nodes } from '../../runtime/client/kinds.js';
import { type AlarmEventRecord, buildAlarms } from './alarms.js';
import { buildInventory, type Inventory } from './inventory.js';

export const INVENTORY_PREFIX = '/o2ims-infrastructureInventory';
export const MONITORING_PREFIX = '/o2ims-infrastructureMonitoring';
export const INVENTORY_API_VERSION = '1.0.0';
export const DEFAULT_INVENTORY_PORT = 8090;

/** An RFC 7807 ProblemDetails answer, as O2IMS errors are. */
function problem(res: ServerResponse, status: number, title: string, detail: string, instance: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail, instance }));
}

/**
 * The O2IMS infrastructure inventory and monitoring read APIs over HTTP, read from the cluster on
 * every request (so they are never stale):
 *
 *   GET /o2ims-infrastructureInventory/api_versions, /v1/api_versions
 *   GET /o2ims-infrastructureInventory/v1                                   the O-Cloud
 *   GET /o2ims-infrastructureInventory/v1/deploymentManagers[/{deploymentManagerId}]
 *   GET /o2ims-infrastructureInventory/v1/resourceTypes[/{resourceTypeId}]
 *   GET /o2ims-infrastructureInventory/v1/resourcePools[/{resourcePoolId}]
 *   GET /o2ims-infrastructureInventory/v1/resourcePools/{resourcePoolId}/resources[/{resourceId}]
 *   GET /o2ims-infrastructureMonitoring/v1/alarms[/{alarmEventRecordId}]
 */
export class InventoryServer {
  private server?: Server;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: { name: string; host?: string },
  ) {}

  async start(port = DEFAULT_INVENTORY_PORT): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) problem(res, 503, 'Service Unavailable', err.message, req.url ?? '');
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async inventory(req: IncomingMessage): Promise<Inventory> {
    const [kubeSystem, nodes, version] = await Promise.all([
      this.client.get(Namespaces, 'kube-system'),
      this.client.listAll(Nodes),
      this.client.raw<{ gitVersion?: string }>('/version').catch(() => ({ gitVersion: undefined })),
    ]);
    return buildInventory({
      clusterId: kubeSystem.metadata!.uid!,
      name: this.opts.name,
      serviceUri: `http://${req.headers.host ?? 'localhost'}${INVENTORY_PREFIX}/v1`,
      kubernetesVersion: version.gitVersion,
      apiServer: this.client.transport.connection.server.toString().replace(/\/$/, ''),
      nodes: nodes.items,
    });
  }

  private async alarms(req: IncomingMessage): Promise<AlarmEventRecord[]> {
    const inv = await this.inventory(req);
    const nodes = await this.client.listAll(Nodes);
    return buildAlarms(nodes.items, inv.resources);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      return problem(
        res,
        405,
        'Method Not Allowed',
        `${req.method} is not supported; the inventory is read-only`,
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
    const parts = path.slice(`${api}/v1`.length).split('/').filter(Boolean).map(decodeURIComponent);
    const [collection, id, sub, subId, ...rest] = parts;
    if (rest.length) return problem(res, 404, 'Not Found', `no route ${path}`, path);

    if (api === MONITORING_PREFIX) {
      if (collection !== 'alarms' || sub) return problem(res, 404, 'Not Found', `no route ${path}`, path);
      const alarms = await this.alarms(req);
      if (!id) return send(alarms);
      return one(alarms, (a) => a.alarmEventRecordId === id, 'alarm', id);
    }

    const inv = await this.inventory(req);
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
}
