import type { Node, Pod, Toleration } from 'kubernetes-types/core/v1.js';
import type { HardwareRequirements, TeeType } from '../apis/hourglass.eigenlayer.io/performer.js';
import { parseQuantity } from '../runtime/quantity.js';

/** The extended resource and taint key of NVIDIA's device plugin. */
export const NVIDIA_GPU = 'nvidia.com/gpu';

/**
 * What a TEE of each type asks of a node. SGX enclaves need Intel's SGX device plugin (the node
 * label comes from its Node Feature Discovery rules); AMD SEV and Intel TDX run whole
 * confidential VMs, so the node needs the CPU feature (Node Feature Discovery's built-in label)
 * and the Pod a confidential runtime class, which `scheduling.runtimeClass` names.
 */
export const TEE_NODE_REQUIREMENTS: Record<
  TeeType,
  { nodeSelector: Record<string, string>; resources: Record<string, string> }
> = {
  sgx: {
    nodeSelector: { 'intel.feature.node.kubernetes.io/sgx': 'true' },
    resources: { 'sgx.intel.com/enclave': '1' },
  },
  sev: {
    nodeSelector: { 'feature.node.kubernetes.io/cpu-security.sev.enabled': 'true' },
    resources: {},
  },
  tdx: {
    nodeSelector: { 'feature.node.kubernetes.io/cpu-security.tdx.enabled': 'true' },
    resources: {},
  },
};

/** The GPU resource name: `nvidia.com/gpu`, or `nvidia.com/<gpuType>` for a typed GPU. */
export function gpuResourceName(hw: HardwareRequirements): string {
  return hw.gpuType ? `nvidia.com/${hw.gpuType}` : NVIDIA_GPU;
}

/** Extended resources (requested and limited alike) and node labels the hardware needs. */
export function hardwareNeeds(hw: HardwareRequirements | undefined): {
  resources: Record<string, string>;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
} {
  const resources: Record<string, string> = {};
  const nodeSelector: Record<string, string> = {};
  const tolerations: Toleration[] = [];
  if (hw?.gpuCount && hw.gpuCount > 0) {
    resources[gpuResourceName(hw)] = String(hw.gpuCount);
    // GPU nodes carry the device plugin's taint; asking for a GPU is asking to tolerate it
    // (what the ExtendedResourceToleration admission plugin does where it is enabled).
    tolerations.push({ key: NVIDIA_GPU, operator: 'Exists', effect: 'NoSchedule' });
  }
  if (hw?.teeRequired) {
    if (!hw.teeType) throw new Error('hardwareRequirements.teeRequired needs teeType (sgx, sev or tdx)');
    const tee = TEE_NODE_REQUIREMENTS[hw.teeType];
    Object.assign(resources, tee.resources);
    Object.assign(nodeSelector, tee.nodeSelector);
  }
  return { resources, nodeSelector, tolerations };
}

/** Why one node cannot host a Pod, or undefined when it can. */
export function whyNodeCannotHost(pod: Pod, node: Node): string | undefined {
  const spec = pod.spec ?? { containers: [] };
  const labels = node.metadata?.labels ?? {};
  if (node.spec?.unschedulable) return 'is unschedulable';
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) {
    if (labels[k] !== v) return `lacks label ${k}=${v}`;
  }
  const terms =
    spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms?.length && !terms.some((term) => termMatches(term, node)))
    return 'does not match the node affinity';
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!(spec.tolerations ?? []).some((t) => tolerates(t, taint))) {
      return `has taint ${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect} that it does not tolerate`;
    }
  }
  const allocatable = node.status?.allocatable ?? {};
  for (const [resource, amount] of Object.entries(podRequests(pod))) {
    const available = allocatable[resource] === undefined ? 0 : parseQuantity(allocatable[resource]);
    if (available < amount) return `has ${available === 0 ? 'no' : 'too little'} ${resource}`;
  }
  return undefined;
}

/**
 * Whether any node can host the Pod (labels, affinity, taints, allocatable), with a message in the
 * scheduler's style when none can: the HardwareUnavailable condition's message.
 */
export function hostingCheck(pod: Pod, nodes: readonly Node[]): { hostable: boolean; message: string } {
  const reasons = new Map<string, number>();
  let fits = 0;
  for (const node of nodes) {
    const why = whyNodeCannotHost(pod, node);
    if (why === undefined) fits++;
    else reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (fits > 0) return { hostable: true, message: `${fits}/${nodes.length} nodes can host the performer` };
  const detail = [...reasons].map(([why, n]) => `${n} ${why}`).join('; ');
  return {
    hostable: false,
    message: `0/${nodes.length} nodes can host the performer${detail ? `: ${detail}` : ''}`,
  };
}

/** The Pod's requests: the larger of each resource's request or limit, summed over containers. */
function podRequests(pod: Pod): Record<string, number> {
  const total: Record<string, number> = {};
  for (const c of pod.spec?.containers ?? []) {
    const names = new Set([
      ...Object.keys(c.resources?.requests ?? {}),
      ...Object.keys(c.resources?.limits ?? {}),
    ]);
    for (const name of names) {
      const raw = c.resources?.requests?.[name] ?? c.resources?.limits?.[name];
      if (raw !== undefined) total[name] = (total[name] ?? 0) + parseQuantity(raw);
    }
  }
  return total;
}

function tolerates(t: Toleration, taint: { key: string; value?: string; effect: string }): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (!t.key) return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
}

type NodeSelectorTerm = NonNullable<
  NonNullable<
    NonNullable<NonNullable<Pod['spec']>['affinity']>['nodeAffinity']
  >['requiredDuringSchedulingIgnoredDuringExecution']
>['nodeSelectorTerms'][number];

function termMatches(term: NodeSelectorTerm, node: Node): boolean {
  const labels = node.metadata?.labels ?? {};
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const matches = (value: string | undefined, op: string, values: string[] = []): boolean => {
    switch (op) {
      case 'In':
        return value !== undefined && values.includes(value);
      case 'NotIn':
        return value === undefined || !values.includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      case 'Gt':
        return value !== undefined && Number(value) > Number(values[0]);
      case 'Lt':
        return value !== undefined && Number(value) < Number(values[0]);
      default:
        return false;
    }
  };
  return (
    exprs.every((e) => matches(labels[e.key], e.operator, e.values)) &&
    fields.every((f) =>
      matches(f.key === 'metadata.name' ? node.metadata?.name : undefined, f.operator, f.values),
    )
  );
}
