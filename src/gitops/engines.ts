import type { KubeObject } from '../runtime/client/types.js';

/** Manifests for real GitOps engines, so production can pull the same repository with them. */

export interface EngineOptions {
  readonly name: string;
  readonly repo: string;
  readonly branch: string;
  readonly dir: string;
  /** Go duration, e.g. `30s`. */
  readonly period: string;
  /** Secret holding `username` and `password`/`token` for the repository. */
  readonly secretName?: string;
}

/** Config Sync RootSync, as the seed configures it (`sourceFormat: unstructured`). */
export function rootSync(o: EngineOptions): KubeObject {
  return {
    apiVersion: 'configsync.gke.io/v1beta1',
    kind: 'RootSync',
    metadata: { name: o.name, namespace: 'config-management-system' },
    spec: {
      sourceFormat: 'unstructured',
      git: {
        repo: o.repo,
        branch: o.branch,
        dir: o.dir,
        period: o.period,
        auth: o.secretName ? 'token' : 'none',
        ...(o.secretName ? { secretRef: { name: o.secretName } } : {}),
      },
    },
  } as KubeObject;
}

/** Flux GitRepository + Kustomization, pruning what leaves the repository. */
export function fluxSync(o: EngineOptions): KubeObject[] {
  const namespace = 'flux-system';
  return [
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: o.name, namespace },
      spec: {
        interval: o.period,
        url: o.repo,
        ref: { branch: o.branch },
        ...(o.secretName ? { secretRef: { name: o.secretName } } : {}),
      },
    },
    {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: o.name, namespace },
      spec: {
        interval: o.period,
        path: `./${o.dir.replace(/^\/+/, '')}`,
        prune: true,
        wait: true,
        sourceRef: { kind: 'GitRepository', name: o.name },
      },
    },
  ] as unknown as KubeObject[];
}
