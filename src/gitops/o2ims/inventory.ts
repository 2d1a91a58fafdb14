import { createHash } from 'node:crypto';
import type { Node } from 'kubernetes-types/core/v1.js';
import { parseQuantity } from '../../runtime/quantity.js';

/**
 * The O-RAN O2IMS infrastructure inventory of one cluster, built from its nodes: the O-Cloud,
 * resource pools (nodes grouped by pool label, else zone), resources (one per node) and resource
 * types (one per distinct architecture and accelerator). Shapes follow O2IMS's OCloudInfo,
 * ResourcePoolInfo, ResourceInfo and ResourceTypeInfo; what Kubernetes knows beyond them goes in
 * `extensions`.
 */

/** Node labels that name a node's resource pool, first match wins. */
export const POOL_LABELS = ['tutti.dev/pool', 'topology.kubernetes.io/zone'] as const;
export const DEFAULT_POOL = 'default';
const ZONE = 'topology.kubernetes.io/zone';
const REGION = 'topology.kubernetes.io/region';
const GPU_PRODUCT = 'nvidia.com/gpu.product';

export interface OCloudInfo {
  oCloudId: string;
  globalCloudId: string;
  name: string;
  description: string;
  serviceUri: string;
  extensions: Record<string, unknown>;
}

export interface ResourcePoolInfo {
  resourcePoolId: string;
  oCloudId: string;
  globalLocationId: string;
  name: string;
  description: string;
  location: string;
  extensions: Record<string, unknown>;
}

export interface ResourceInfo {
  resourceId: string;
  resourceTypeId: string;
  resourcePoolId: string;
  globalAssetId: string;
  description: string;
  elements: ResourceInfo[];
  extensions: Record<string, unknown>;
}

export interface ResourceTypeInfo {
  resourceTypeId: string;
  name: string;
  vendor: string;
  model: string;
  version: string;
  description: string;
  resourceKind: 'PHYSICAL' | 'LOGICAL' | 'UNDEFINED';
  resourceClass: 'COMPUTE' | 'NETWORKING' | 'STORAGE' | 'UNDEFINED';
  extensions: Record<string, unknown>;
}

/** The cluster as an O2IMS deployment manager: where O2dms (Kubernetes) requests go. */
export interface DeploymentManagerInfo {
  deploymentManagerId: string;
  name: string;
  description: string;
  oCloudId: string;
  /** The Kubernetes API server: the O2dms apiRoot of a Kubernetes deployment manager. */
  serviceUri: string;
  supportedLocations: string[];
  capabilities: Record<string, unknown>;
  /** Totals over the nodes: `allocatable` and `capacity`, per resource name. */
  capacity: { allocatable: Record<string, string>; capacity: Record<string, string> };
  extensions: Record<string, unknown>;
}

export interface Inventory {
  oCloud: OCloudInfo;
  deploymentManagers: DeploymentManagerInfo[];
  resourcePools: ResourcePoolInfo[];
  resources: ResourceInfo[];
  resourceTypes: ResourceTypeInfo[];
}

/** A stable UUID-shaped id from a name, so ids survive restarts and match across replicas. */
export function stableId(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('\0')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function poolOf(node: Node): string {
  const labels = node.metadata?.labels ?? {};
  for (const l of POOL_LABELS) if (labels[l]) return labels[l];
  return DEFAULT_POOL;
}

function typeOf(node: Node): { name: string; model: string; vendor: string } {
  const labels = node.metadata?.labels ?? {};
  const arch = node.status?.nodeInfo?.architecture || labels['kubernetes.io/arch'] || 'unknown';
  const gpu = labels[GPU_PRODUCT];
  return gpu
    ? { name: `node-${arch}-${gpu.toLowerCase()}`, model: gpu, vendor: 'NVIDIA' }
    : { name: `node-${arch}`, model: arch, vendor: 'generic' };
}

export function ready(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export interface InventorySource {
  /** The cluster's identity: the kube-system namespace's uid, as cluster ids usually are. */
  clusterId: string;
  name: string;
  serviceUri: string;
  kubernetesVersion?: string;
  /** The API server's URL, the deployment manager's serviceUri. */
  apiServer: string;
  nodes: readonly Node[];
}

/** Sums each resource over the nodes, in the quantity's own unit where all nodes agree on it. */
export function totalResources(
  lists: readonly (Record<string, string> | undefined)[],
): Record<string, string> {
  const sums = new Map<string, number>();
  for (const list of lists)
    for (const [name, value] of Object.entries(list ?? {}))
      sums.set(name, (sums.get(name) ?? 0) + parseQuantity(value));
  return Object.fromEntries(
    [...sums.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => [name, formatTotal(name, n)]),
  );
}

const BINARY_SUFFIXES = [
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
] as const;

function formatTotal(name: string, n: number): string {
  if (name === 'cpu') return Number.isInteger(n) ? String(n) : `${Math.round(n * 1000)}m`;
  for (const [suffix, size] of BINARY_SUFFIXES)
    if (n >= size && n % size === 0) return `${n / size}${suffix}`;
  return String(Math.round(n));
}

export function buildInventory(src: InventorySource): Inventory {
  const oCloudId = stableId('ocloud', src.clusterId);
  const nodes = [...src.nodes].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const pools = new Map<string, Node[]>();
  for (const n of nodes) pools.set(poolOf(n), [...(pools.get(poolOf(n)) ?? []), n]);
  const resourcePools = [...pools.entries()].map(([name, members]): ResourcePoolInfo => {
    const zones = [...new Set(members.map((m) => m.metadata?.labels?.[ZONE]).filter(Boolean))].sort();
    const regions = [...new Set(members.map((m) => m.metadata?.labels?.[REGION]).filter(Boolean))].sort();
    return {
      resourcePoolId: stableId('pool', src.clusterId, name),
      oCloudId,
      globalLocationId: regions.join(',') || 'unknown',
      name,
      description: `${members.length} node${members.length === 1 ? '' : 's'} in pool ${name}`,
      location: zones.join(',') || 'unknown',
      extensions: { nodes: members.map((m) => m.metadata?.name), zones, regions },
    };
  });
  const types = new Map<string, ResourceTypeInfo>();
  const resources = nodes.map((n): ResourceInfo => {
    const t = typeOf(n);
    const resourceTypeId = stableId('type', t.name);
    types.set(resourceTypeId, {
      resourceTypeId,
      name: t.name,
      vendor: t.vendor,
      model: t.model,
      version: n.status?.nodeInfo?.kubeletVersion ?? '',
      description: `Kubernetes node: ${t.model}`,
      resourceKind: 'PHYSICAL',
      resourceClass: 'COMPUTE',
      extensions: {},
    });
    const name = n.metadata?.name ?? '';
    return {
      resourceId: n.metadata?.uid ?? stableId('node', name),
      resourceTypeId,
      resourcePoolId: stableId('pool', src.clusterId, poolOf(n)),
      globalAssetId: n.status?.nodeInfo?.systemUUID || `urn:kubernetes:node:${src.clusterId}:${name}`,
      description: name,
      elements: [],
      extensions: {
        nodeName: name,
        ready: ready(n),
        labels: n.metadata?.labels ?? {},
        capacity: n.status?.capacity ?? {},
        allocatable: n.status?.allocatable ?? {},
        taints: n.spec?.taints ?? [],
        unschedulable: n.spec?.unschedulable ?? false,
      },
    };
  });
  const deploymentManager: DeploymentManagerInfo = {
    deploymentManagerId: stableId('deployment-manager', src.clusterId),
    name: src.name,
    description: `Kubernetes cluster ${src.name}${src.kubernetesVersion ? ` (${src.kubernetesVersion})` : ''}`,
    oCloudId,
    serviceUri: src.apiServer,
    supportedLocations: [...new Set(resourcePools.map((p) => p.globalLocationId))].sort(),
    capabilities: {
      profile: 'kubernetes',
      ...(src.kubernetesVersion ? { kubernetesVersion: src.kubernetesVersion } : {}),
      architectures: [...new Set(nodes.map((n) => n.status?.nodeInfo?.architecture).filter(Boolean))].sort(),
    },
    capacity: {
      allocatable: totalResources(nodes.map((n) => n.status?.allocatable)),
      capacity: totalResources(nodes.map((n) => n.status?.capacity)),
    },
    extensions: {
      nodes: nodes.length,
      readyNodes: nodes.filter(ready).length,
      resourcePools: resourcePools.map((p) => p.resourcePoolId),
    },
  };
  return {
    deploymentManagers: [deploymentManager],
    oCloud: {
      oCloudId,
      globalCloudId: src.clusterId,
      name: src.name,
      description: `O-Cloud of Kubernetes cluster ${src.name}`,
      serviceUri: src.serviceUri,
      extensions: src.kubernetesVersion ? { kubernetesVersion: src.kubernetesVersion } : {},
    },
    resourcePools,
    resources,
    resourceTypes: [...types.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
