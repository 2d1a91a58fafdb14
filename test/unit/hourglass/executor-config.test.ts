import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
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
    /avsPerformers\[0\]\.kubernetes\.connectionTimeout "soon" is not a duration/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ kubernetes: { namespce: 'x' } })] }),
    /unknown key avsPerformers\[0\]\.kubernetes\.namespce \(did you mean namespace\?\)/,
  );
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ kubernetes: { context: 3 } })] }),
    /avsPerformers\[0\]\.kubernetes\.context must be a string/,
  );
  assert.throws(() => parseExecutorConfig({ avsPerformers: [perf({}), perf({})] }), /0xa is listed twice/);
  // The Performer would be refused at deploy time: its version is the image's tag.
  assert.throws(
    () => parseExecutorConfig({ avsPerformers: [perf({ image: 'reg:5000/sq:v1', version: 'v2' })] }),
    /avsPerformers\[0\]\.version: reg:5000\/sq:v1 already has a tag or digest; give the version in one place/,
  );
  assert.equal(
    parseExecutorConfig({ avsPerformers: [perf({ image: 'reg:5000/sq', version: 'v2' })] }).avsPerformers[0]!
      .version,
    'v2',
  );
});

test('executor config from YAML: the field at fault is named where it is written', () => {
  const parse = (text: string) => () => parseExecutorConfig(parseYaml(text));
  // Unquoted, 0xabc is a YAML integer: the address is there, but not as a string.
  assert.throws(
    parse('avsPerformers:\n  - {avsAddress: "0xa", image: img}\n  - {avsAddress: 0xabc, image: img}\n'),
    /^Error: avsPerformers\[1\]\.avsAddress must be a string, got the number 2748: quote it/,
  );
  // A fault in the shared block is named there, not under the first performer.
  assert.throws(
    parse('kubernetes: {connectionTimeout: soon}\navsPerformers:\n  - {avsAddress: "0xa", image: img}\n'),
    /^Error: kubernetes\.connectionTimeout "soon" is not a duration/,
  );
  assert.throws(
    parse('kubernetes: {namespace: Bad_NS}\navsPerformers:\n  - {avsAddress: "0xa", image: img}\n'),
    /^Error: kubernetes: invalid Kubernetes config: namespace "Bad_NS"/,
  );
  // Misspelt keys are refused, not ignored.
  assert.throws(
    parse('grpcport: 9600\navsPerformers:\n  - {avsAddress: "0xa", image: img}\n'),
    /^Error: unknown key grpcport \(did you mean grpcPort\?\)/,
  );
  assert.throws(
    parse('avsPerformers:\n  - {avsAddress: "0xa", image: img, verison: v2}\n'),
    /^Error: unknown key avsPerformers\[0\]\.verison \(did you mean version\?\)/,
  );
  assert.throws(
    parse('avsPerformers:\n  - {avsAddress: "0xa", image: {repository: img, tga: v1}}\n'),
    /^Error: unknown key avsPerformers\[0\]\.image\.tga \(did you mean tag\?\)/,
  );
  // Every key the docs show is accepted.
  const config = parseExecutorConfig(
    parseYaml(
      [
        'grpcPort: 9600',
        'kubernetes:',
        '  namespace: avs-a',
        '  operatorNamespace: hourglass-system',
        '  connectionTimeout: 30s',
        '  retryAttempts: 3',
        '  retryDelay: 5s',
        '  kubeconfig: /etc/executor/kubeconfig',
        '  context: edge',
        '  grpcPort: 9091',
        'avsPerformers:',
        '  - avsAddress: "0xabc"',
        '    image: {repository: ghcr.io/acme/squarer, tag: v1.2.0}',
        '    deploymentMode: kubernetes',
        '    kubernetes: {serviceAccountName: squarer}',
        '  - {avsAddress: "0xdef", image: ghcr.io/acme/other, version: v2}',
      ].join('\n'),
    ),
  );
  assert.equal(config.grpcPort, 9600);
  assert.equal(config.avsPerformers[0]?.kubernetes.serviceAccountName, 'squarer');
  assert.equal(config.avsPerformers[1]?.kubernetes.context, 'edge');
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
