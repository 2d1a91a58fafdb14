import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import type { Performer } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import {
  avsLabelValue,
  buildPerformerPod,
  buildPerformerService,
  containerImage,
  grpcEndpoint,
  performerPodSpec,
  podRevision,
} from '../../../src/hourglass/desired-state.js';
import { hostingCheck } from '../../../src/hourglass/hardware.js';
import { parseQuantity } from '../../../src/runtime/quantity.js';

function performer(spec: Partial<Performer['spec']> = {}, annotations?: Record<string, string>): Performer {
  return {
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name: 'squarer', namespace: 'avs-a', uid: 'uid-1', ...(annotations ? { annotations } : {}) },
    spec: { avsAddress: '0xAbC_Def', image: 'ghcr.io/acme/squarer', version: 'v1.2.0', ...spec },
  };
}

describe('performer Pod and Service', () => {
  test('names, labels, owner, container, port, probes and the restricted security context', () => {
    const pod = buildPerformerPod(performer());
    assert.equal(pod.metadata?.name, 'performer-squarer');
    assert.equal(pod.metadata?.namespace, 'avs-a');
    const labels = pod.metadata?.labels ?? {};
    assert.equal(labels['app'], 'hourglass-performer');
    assert.equal(labels['hourglass.eigenlayer.io/performer'], 'squarer');
    assert.equal(labels['hourglass.eigenlayer.io/avs'], '0xabc-def');
    assert.match(labels['hourglass.eigenlayer.io/revision'] ?? '', /^[0-9a-f]{10}$/);
    assert.deepEqual(pod.metadata?.ownerReferences, [
      {
        apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
        kind: 'Performer',
        name: 'squarer',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    const [c] = pod.spec?.containers ?? [];
    assert.equal(c?.name, 'performer');
    assert.equal(c?.image, 'ghcr.io/acme/squarer:v1.2.0');
    assert.deepEqual(c?.ports, [{ name: 'grpc', containerPort: 9090, protocol: 'TCP' }]);
    assert.deepEqual(c?.livenessProbe?.grpc, { port: 9090, service: '' });
    assert.deepEqual(c?.readinessProbe?.grpc, { port: 9090, service: '' });
    assert.equal(c?.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c?.securityContext?.runAsNonRoot, true);
    assert.deepEqual(c?.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(pod.spec?.securityContext?.seccompProfile?.type, 'RuntimeDefault');

    const unrestricted = buildPerformerPod(
      performer({}, { 'hourglass.eigenlayer.io/security-profile': 'unrestricted' }),
    );
    assert.equal(unrestricted.spec?.containers[0]?.securityContext, undefined);
    assert.equal(unrestricted.spec?.securityContext, undefined);

    const svc = buildPerformerService(performer({ config: { grpcPort: 7000 } }), 'abc');
    assert.equal(svc.metadata?.name, 'performer-squarer');
    assert.deepEqual(svc.spec?.selector, {
      app: 'hourglass-performer',
      'hourglass.eigenlayer.io/performer': 'squarer',
      'hourglass.eigenlayer.io/revision': 'abc',
    });
    assert.deepEqual(svc.spec?.ports, [{ name: 'grpc', port: 7000, targetPort: 'grpc', protocol: 'TCP' }]);
    assert.equal(
      grpcEndpoint(performer({ config: { grpcPort: 7000 } })),
      'performer-squarer.avs-a.svc.cluster.local:7000',
    );
    assert.equal(grpcEndpoint(performer()), 'performer-squarer.avs-a.svc.cluster.local:9090');
  });

  test('every config, scheduling and hardware field lands on the Pod', () => {
    const p = performer({
      imagePullPolicy: 'Always',
      config: {
        grpcPort: 8080,
        environment: { B: '2', A: '1' },
        environmentFrom: [
          { name: 'KEY', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { configMapRef: { name: 'cm' }, prefix: 'CM_' },
        ],
        args: ['--fast'],
        command: ['/performer'],
        serviceAccountName: 'perf-sa',
      },
      resources: { requests: { cpu: '500m' }, limits: { memory: '1Gi' } },
      scheduling: {
        nodeSelector: { 'tutti.dev/pool': 'general' },
        tolerations: [{ key: 'bottlerocket', operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
        affinity: {
          nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
        },
        runtimeClass: 'kata',
        priorityClassName: 'high',
      },
      hardwareRequirements: {
        gpuType: 'a100',
        gpuCount: 2,
        teeRequired: true,
        teeType: 'sgx',
        customLabels: { team: 'blue', app: 'not-overridden' },
      },
      imagePullSecrets: [{ name: 'regcred' }],
    });
    const pod = buildPerformerPod(p);
    const spec = pod.spec!;
    const c = spec.containers[0]!;
    assert.equal(c.imagePullPolicy, 'Always');
    assert.deepEqual(c.command, ['/performer']);
    assert.deepEqual(c.args, ['--fast']);
    assert.deepEqual(c.env, [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
      { name: 'KEY', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    assert.deepEqual(c.envFrom, [{ prefix: 'CM_', configMapRef: { name: 'cm' } }]);
    assert.equal(c.ports?.[0]?.containerPort, 8080);
    assert.deepEqual(c.resources?.requests, {
      cpu: '500m',
      'nvidia.com/a100': '2',
      'sgx.intel.com/enclave': '1',
    });
    assert.deepEqual(c.resources?.limits, {
      memory: '1Gi',
      'nvidia.com/a100': '2',
      'sgx.intel.com/enclave': '1',
    });
    assert.equal(spec.serviceAccountName, 'perf-sa');
    assert.deepEqual(spec.imagePullSecrets, [{ name: 'regcred' }]);
    assert.deepEqual(spec.nodeSelector, {
      'tutti.dev/pool': 'general',
      'intel.feature.node.kubernetes.io/sgx': 'true',
    });
    assert.deepEqual(spec.tolerations, [
      { key: 'bottlerocket', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    assert.deepEqual(spec.affinity, p.spec.scheduling?.affinity);
    assert.equal(spec.runtimeClassName, 'kata');
    assert.equal(spec.priorityClassName, 'high');
    assert.equal(pod.metadata?.labels?.['team'], 'blue');
    assert.equal(pod.metadata?.labels?.['app'], 'hourglass-performer');
  });

  test('the revision follows the Pod spec, and an upgrade Pod carries it in its name', () => {
    const v1 = buildPerformerPod(performer());
    const v2 = buildPerformerPod(performer({ version: 'v1.3.0' }), { suffixed: true });
    const r2 = v2.metadata?.labels?.['hourglass.eigenlayer.io/revision'];
    assert.notEqual(v1.metadata?.labels?.['hourglass.eigenlayer.io/revision'], r2);
    assert.equal(v2.metadata?.name, `performer-squarer-${r2}`);
    // Labels alone do not make a new revision.
    const relabelled = performer({ hardwareRequirements: { customLabels: { x: 'y' } } });
    assert.equal(podRevision(performerPodSpec(relabelled)), podRevision(performerPodSpec(performer())));
  });

  test('the avs label value and the container image', () => {
    assert.equal(avsLabelValue(`0x${'A'.repeat(70)}`), `0x${'a'.repeat(61)}`);
    assert.equal(avsLabelValue('My_AVS'), 'my-avs');
    // Any avsAddress gives a label value the API server accepts, so the Pod can be made.
    assert.equal(avsLabelValue('hello world!'), 'hello-world');
    assert.equal(avsLabelValue('_0xAb.C/d_'), '0xab.c-d');
    assert.equal(avsLabelValue(`ab${'!'.repeat(70)}`), 'ab');
    assert.equal(avsLabelValue('!!!'), '');
    const labelValue = /^(([a-z0-9][-a-z0-9_.]*)?[a-z0-9])?$/;
    for (const a of ['hello world!', ' 0x1 ', 'Ünïcode_AVS', `-${'x.'.repeat(40)}`, '0xabc-def.1']) {
      const v = avsLabelValue(a);
      assert.ok(labelValue.test(v) && v.length <= 63, `${JSON.stringify(a)} gave ${JSON.stringify(v)}`);
    }
    assert.equal(
      buildPerformerPod(performer({ avsAddress: 'hello world!' })).metadata?.labels?.[
        'hourglass.eigenlayer.io/avs'
      ],
      'hello-world',
    );
    assert.equal(containerImage(performer({ image: 'reg:5000/a/b', version: 'v2' })), 'reg:5000/a/b:v2');
    assert.equal(containerImage(performer({ image: 'a/b:pinned', version: 'v2' })), 'a/b:pinned');
    assert.equal(containerImage(performer({ image: 'a/b@sha256:00', version: 'v2' })), 'a/b@sha256:00');
    assert.throws(
      () => buildPerformerPod({ ...performer(), metadata: { name: 'x', namespace: 'y' } }),
      /metadata\.uid/,
    );
  });
});

describe('can any node host the performer', () => {
  const node = (
    name: string,
    labels: Record<string, string>,
    allocatable: Record<string, string>,
    taints = [],
  ) => ({ metadata: { name, labels }, spec: { taints }, status: { allocatable } }) as Node;
  const nodes = [
    node('w0', { 'tutti.dev/pool': 'general' }, { cpu: '4', memory: '8Gi' }),
    node('gpu', { 'nvidia.com/gpu.present': 'true' }, { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '8' }, [
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
    ] as never),
  ];

  test('GPUs: the count and the taint decide', () => {
    const ok = hostingCheck(buildPerformerPod(performer({ hardwareRequirements: { gpuCount: 8 } })), nodes);
    assert.deepEqual(ok, { hostable: true, message: '1/2 nodes can host the performer' });
    const tooMany = hostingCheck(
      buildPerformerPod(performer({ hardwareRequirements: { gpuCount: 9 } })),
      nodes,
    );
    assert.equal(tooMany.hostable, false);
    assert.match(tooMany.message, /0\/2 nodes.*1 has no nvidia\.com\/gpu; 1 has too little nvidia\.com\/gpu/);
    const typed = hostingCheck(
      buildPerformerPod(performer({ hardwareRequirements: { gpuCount: 1, gpuType: 'h100' } })),
      nodes,
    );
    assert.equal(typed.hostable, false);
  });

  test('TEE, node selector, affinity, cpu and memory', () => {
    const tee = hostingCheck(
      buildPerformerPod(performer({ hardwareRequirements: { teeRequired: true, teeType: 'tdx' } })),
      nodes,
    );
    assert.equal(tee.hostable, false);
    assert.match(tee.message, /lacks label feature\.node\.kubernetes\.io\/cpu-security\.tdx\.enabled=true/);
    assert.match(
      hostingCheck(buildPerformerPod(performer({ resources: { requests: { memory: '64Gi' } } })), nodes)
        .message,
      /0\/2.*too little memory/,
    );
    const pinned = performer({
      scheduling: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['w0'] }] },
              ],
            },
          },
        },
      },
    });
    assert.equal(hostingCheck(buildPerformerPod(pinned), nodes).hostable, true);
    assert.equal(hostingCheck(buildPerformerPod(pinned), nodes.slice(1)).hostable, false);
    assert.equal(hostingCheck(buildPerformerPod(performer()), []).hostable, false);
  });

  test('resource quantities', () => {
    assert.equal(parseQuantity('500m'), 0.5);
    assert.equal(parseQuantity('1Gi'), 2 ** 30);
    assert.equal(parseQuantity('2k'), 2000);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.throws(() => parseQuantity('lots'), /"lots" is not a resource quantity/);
  });
});
