import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fluxSync, rootSync } from '../../../src/gitops/engines.js';

const opts = {
  name: 'edge1-sync',
  repo: 'http://git.example:8888/admin1/edge1-config',
  branch: 'main',
  period: '30s',
};

test('RootSync as in the seed, pulling the whole rendered tree', () => {
  assert.deepEqual(rootSync({ ...opts, dir: '/' }), {
    apiVersion: 'configsync.gke.io/v1beta1',
    kind: 'RootSync',
    metadata: { name: 'edge1-sync', namespace: 'config-management-system' },
    spec: {
      sourceFormat: 'unstructured',
      git: { repo: opts.repo, branch: 'main', dir: '/', period: '30s', auth: 'none' },
    },
  });
  const withSecret = rootSync({ ...opts, dir: '/apps/intent', secretName: 'git-creds' }) as unknown as {
    spec: { git: Record<string, unknown> };
  };
  assert.deepEqual(
    [withSecret.spec.git['auth'], withSecret.spec.git['secretRef']],
    ['token', { name: 'git-creds' }],
  );
});

test('Flux GitRepository + Kustomization that prune', () => {
  const [source, kustomization] = fluxSync({ ...opts, dir: '/apps/intent' }) as unknown as {
    kind: string;
    spec: Record<string, unknown>;
  }[];
  assert.equal(source!.kind, 'GitRepository');
  assert.deepEqual(source!.spec, { interval: '30s', url: opts.repo, ref: { branch: 'main' } });
  assert.equal(kustomization!.kind, 'Kustomization');
  assert.deepEqual(kustomization!.spec, {
    interval: '30s',
    path: './apps/intent',
    prune: true,
    wait: true,
    sourceRef: { kind: 'GitRepository', name: 'edge1-sync' },
  });
});
