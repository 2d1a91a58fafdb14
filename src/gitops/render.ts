import type { ConfigMap, Namespace } from 'kubernetes-types/core/v1.js';
import { stringify } from 'yaml';
import { type Bundle, bundleCrds, bundleKindFor } from '../apis/nephio/bundles.js';
import type { KubeObject } from '../runtime/client/types.js';
import type { IntentExpectation } from './expectation.js';

/** Where rendered expectations live on the edge, as in the seed. */
export const RENDER_NAMESPACE = 'intent-to-krm';
/** The seed's edge workload namespace, created beside `intent-to-krm`. */
export const SITE_NAMESPACE = 'edge1';

export const LABEL_ID = 'expectation.nephio.org/id';
export const LABEL_TYPE = 'expectation.nephio.org/type';
export const LABEL_OBJECT_TYPE = 'expectation.nephio.org/object-type';
export const LABEL_INTENT = 'intent.tutti.dev/id';
export const ANNOTATION_TARGET = 'expectation.nephio.org/target';
export const ANNOTATION_CONTEXT = 'expectation.nephio.org/context';

/** The files of the seed's repository layout, per expectation type. */
export const APP_FILES = {
  ServiceCapacity: 'apps/intent/cn_capacity.yaml',
  ServicePerformance: 'apps/intent/ran_performance.yaml',
  ServiceCoverage: 'apps/intent/tn_coverage.yaml',
} as const;
export const CRD_FILE = 'crds/bundles.yaml';
export const NAMESPACE_FILE = 'crds/namespaces.yaml';
export const KUSTOMIZATION_FILE = 'kustomization.yaml';
/** Every path `render` owns in a repository; publish replaces exactly these. */
export const OWNED_PATHS = [...Object.values(APP_FILES), CRD_FILE, NAMESPACE_FILE, KUSTOMIZATION_FILE];

/** The expectation with its fields in one fixed order, so equal input renders equal bytes. */
export function canonicalExpectation(e: IntentExpectation): IntentExpectation {
  return {
    intentExpectationId: e.intentExpectationId,
    intentExpectationType: e.intentExpectationType,
    intentExpectationContext: (e.intentExpectationContext ?? []).map((c) => ({
      contextAttribute: c.contextAttribute,
      contextCondition: c.contextCondition,
      contextValueRange: [...c.contextValueRange],
    })),
    intentExpectationTarget: {
      targetAttribute: e.intentExpectationTarget.targetAttribute,
      targetCondition: e.intentExpectationTarget.targetCondition,
      targetValue: e.intentExpectationTarget.targetValue,
    },
    intentExpectationObject: {
      objectType: e.intentExpectationObject.objectType,
      objectInstance: e.intentExpectationObject.objectInstance,
    },
    ...(e.intentId ? { intentId: e.intentId } : {}),
    members: [...(e.members ?? [])],
  };
}

function labels(e: IntentExpectation): Record<string, string> {
  return {
    [LABEL_ID]: e.intentExpectationId,
    [LABEL_TYPE]: e.intentExpectationType,
    [LABEL_OBJECT_TYPE]: e.intentExpectationObject.objectType,
    ...(e.intentId ? { [LABEL_INTENT]: e.intentId } : {}),
  };
}

export function targetText(e: IntentExpectation): string {
  const t = e.intentExpectationTarget;
  return `${t.targetAttribute} ${t.targetCondition} ${t.targetValue}`;
}

export function contextText(e: IntentExpectation): string {
  return (e.intentExpectationContext ?? [])
    .map((c) => `${c.contextAttribute} ${c.contextCondition} ${c.contextValueRange.join(',')}`)
    .join('; ');
}

export function expectationConfigMap(e: IntentExpectation): ConfigMap & KubeObject {
  const context = contextText(e);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `expectation-${e.intentExpectationId}`,
      namespace: RENDER_NAMESPACE,
      labels: labels(e),
      annotations: {
        [ANNOTATION_TARGET]: targetText(e),
        ...(context ? { [ANNOTATION_CONTEXT]: context } : {}),
      },
    },
    data: { 'expectation.json': `${JSON.stringify(canonicalExpectation(e), null, 2)}\n` },
  };
}

export function expectationBundle(e: IntentExpectation): Bundle {
  const info = bundleKindFor(e.intentExpectationType);
  const t = e.intentExpectationTarget;
  return {
    apiVersion: `${info.group}/v1alpha1`,
    kind: info.kind,
    metadata: {
      name: `${info.namePrefix}-${e.intentExpectationId}`,
      namespace: RENDER_NAMESPACE,
      labels: labels(e),
    },
    spec: {
      expectationId: e.intentExpectationId,
      expectationType: e.intentExpectationType,
      objectInstance: e.intentExpectationObject.objectInstance,
      [info.members]: [...(e.members ?? [])],
      [info.section]: { [t.targetAttribute]: { condition: t.targetCondition, value: t.targetValue } },
    },
  } as unknown as Bundle;
}

/** The two objects one expectation renders to: its ConfigMap and its bundle. */
export function renderExpectation(e: IntentExpectation): KubeObject[] {
  return [expectationConfigMap(e), expectationBundle(e)];
}

export function namespaces(): Namespace[] {
  return [RENDER_NAMESPACE, SITE_NAMESPACE].map((name) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  }));
}

/** Multi-document YAML with a stable form: block style, no line folding. */
export function toYaml(objects: readonly unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** A rendered repository: path → file content, paths sorted. */
export type RenderedTree = ReadonlyMap<string, string>;

/**
 * The seed's layout for a set of expectations. App files with no expectations are left out (and
 * out of kustomization.yaml), so a tree never holds empty YAML files.
 */
export function renderTree(expectations: readonly IntentExpectation[]): RenderedTree {
  const sorted = [...expectations].sort((a, b) =>
    a.intentExpectationId < b.intentExpectationId
      ? -1
      : a.intentExpectationId > b.intentExpectationId
        ? 1
        : 0,
  );
  const seen = new Set<string>();
  for (const e of sorted) {
    if (seen.has(e.intentExpectationId))
      throw new Error(`expectation id ${e.intentExpectationId} appears twice`);
    seen.add(e.intentExpectationId);
  }
  const files = new Map<string, string>();
  files.set(NAMESPACE_FILE, toYaml(namespaces()));
  files.set(CRD_FILE, toYaml(bundleCrds()));
  for (const [type, path] of Object.entries(APP_FILES)) {
    const objects = sorted.filter((e) => e.intentExpectationType === type).flatMap(renderExpectation);
    if (objects.length) files.set(path, toYaml(objects));
  }
  const resources = [NAMESPACE_FILE, CRD_FILE, ...Object.values(APP_FILES).filter((p) => files.has(p))];
  files.set(
    KUSTOMIZATION_FILE,
    stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources }),
  );
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : 1)));
}
