import type { Node } from 'kubernetes-types/core/v1.js';

/** Annotation kwok selects the nodes it simulates by. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
export const GPU_RESOURCE = 'nvidia.com/gpu';

const capacity = (extra: Record<string, string> = {}) => ({
  cpu: '64',
  memory: '256Gi',
  'ephemeral-storage': '1Ti',
  // Room for the benchmarks' thousands of pods on a handful of nodes.
  pods: '2000',
  ...extra,
});

function simulatedNode(
  name: string,
  labels: Record<string, string>,
  extra: Partial<Node['spec']> = {},
  cap = capacity(),
): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...labels,
      },
    },
    spec: extra,
    status: { capacity: cap, allocatable: cap },
  };
}

/**
 * The simulated nodes of a local control plane: three general workers spread over three zones,
 * and one GPU node that is tainted, so node selectors, affinities and tolerations all matter.
 */
export function simulatedNodes(): Node[] {
  const zones = ['zone-a', 'zone-b', 'zone-c'];
  const workers = zones.map((zone, i) =>
    simulatedNode(`tutti-worker-${i}`, {
      'node-role.kubernetes.io/worker': '',
      'topology.kubernetes.io/zone': zone,
      'topology.kubernetes.io/region': 'local',
      'tutti.dev/pool': 'general',
    }),
  );
  const gpu = simulatedNode(
    'tutti-gpu-0',
    {
      'node-role.kubernetes.io/worker': '',
      'topology.kubernetes.io/zone': 'zone-a',
      'topology.kubernetes.io/region': 'local',
      'tutti.dev/pool': 'gpu',
      'nvidia.com/gpu.present': 'true',
      'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB',
    },
    { taints: [{ key: GPU_RESOURCE, value: 'present', effect: 'NoSchedule' }] },
    capacity({ [GPU_RESOURCE]: '8' }),
  );
  return [...workers, gpu];
}
