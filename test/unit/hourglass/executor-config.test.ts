import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExecutorConfig } from '../../../src/hourglass/executor/executor-config.js';
import { kubernetesConfig } from '../../../src/hourglass/executor/kubernetes-config.js';
import { validateCreatePerformerRequest } from '../../../src/hourglass/executor/kubernetes-manager.js';

test('Kubernetes settings: the defaults, and every wrong field named', () => {
  assert.deepEqual(kubernetesConfig(), {
    namespace: 'default',
    operatorNamespace: 'hourglass-system',
    grpcPort: 9090,
    connectionTimeoutMs: 30_000,
    retryAttempts: 3,
    retryDelayMs: 5000,
  });
  assert.throws(
    () => kubernetesConfig({ namespace: 'Bad_NS', grpcPort: 0, retryAttempts: 0 }),
    /namespace "Bad_NS" is not a namespace name.*grpcPort 0 is not a port.*retryAttempts must be a whole number ≥ 1, got 0/,
  );
});

test('executor config: the seed shape, kubernetes defaults and overrides', () => {
  const config = parseExecutorConfig({
    kubernetes: { namespace: 'avs-a', connectionTimeout: '10s' },
    avsPerformers: [
      {
        avsAddress: '0xAAA',
        image: { repository: 'ghcr.io/acme/perf', tag: 'v1.0.0' },
        deploymentMode: 'kubernetes',
        kubernetes: { retryDelay: 2 },
      },
      {
        avsAddress: '0xBBB',
        image: 'ghcr.io/acme/other',
        version: 'v2',
        kubernetes: { kubeconfig: '/etc/edge/kubeconfig', context: 'edge' },
      },
    ],
  });
  assert.equal(config.grpcPort, 9090);
  assert.deepEqual(config.avsPerformers[0], {
    avsAddress: '0xAAA',
    image: 'ghcr.io/acme/perf',
    version: 'v1.0.0',
    deploymentMode: 'kubernetes',
    kubernetes: {
      namespace: 'avs-a',
      operatorNamespace: 'hourglass-system',
      grpcPort: 9090,
      connectionTimeoutMs: 10_000,
      retryAttempts: 3,
      retryDelayMs: 2000,
    },
  });
  assert.equal(config.avsPerformers[1]?.deploymentMode, 'kubernetes', 'the mode defaults to kubernetes');
  assert.equal(config.avsPerformers[1]?.kubernetes.namespace, 'avs-a');
  assert.equal(config.avsPerformers[1]?.kubernetes.kubeconfig, '/etc/edge/kubeconfig');
  assert.equal(config.avsPerformers[1]?.kubernetes.context, 'edge');
});

test('executor config: docker mode, mixed modes and bad fields are rejected clearly', () => {
  const perf = (extra: Record<string, unknown>) => ({ avsAddress: '0xa', image: 'img', ...extra });
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ deploymentMode: 'docker' })] }),
    /deploymentMode docker is not supported: .* set deploymentMode: kubernetes/,
  );
  assert.throws(
    () =>
      parseExecutorConfig({
        avsPerformers: [
          perf({ deploymentMode: 'kubernetes' }),
          perf({ avsAddress: '0xb', deploymentMode: 'docker' }),
        ],
      }),
    /avsPerformers mix deployment modes \(\[0\] kubernetes, \[1\] docker\)/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ deploymentMode: 'nomad' })] }),
    /avsPerformers\[0\]\.deploymentMode "nomad" is not one of kubernetes, docker/,
  );
  assert.throws(() => parseExecutorConfig({ avsPerformers: [] }), /avsPerformers must list at least one/);
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [{ image: 'x' }] }),
    /avsPerformers\[0\]\.avsAddress is required/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [{ avsAddress: '0xa' }] }),
    /avsPerformers\[0\]\.image is required/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ kubernetes: { connectionTimeout: 'soon' } })] }),
    /avsPerformers\[0\]\.kubernetes: connectionTimeout "soon" is not a duration/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ kubernetes: { namespce: 'x' } })] }),
    /unknown field namespce/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ kubernetes: { context: 3 } })] }),
    /avsPerformers\[0\]\.kubernetes: context must be a string/,
  );
  assert.throws(() => parseExecutorConfig({ avsPerformers: [perf({}), perf({})] }), /0xa is listed twice/);
});

test('performer requests are validated before they reach the API server', () => {
  assert.throws(
    () =>
      validateCreatePerformerRequest({
        name: 'Bad',
        avsAddress: '',
        image: 'a b',
        grpcPort: 70000,
        hardwareRequirements: { gpuCount: -1, teeRequired: true },
      }),
    /name "Bad" must be lower-case.*avsAddress is required.*image "a b" contains whitespace.*grpcPort 70000.*gpuCount must be a whole number ≥ 0, got -1.*teeRequired needs teeType/,
  );
  validateCreatePerformerRequest({ name: 'ok', avsAddress: '0xa', image: 'img' });
});
