import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { ageColumn, customResourceDefinition } from '../crd.js';

/**
 * The Nephio bundle kinds that carry 3GPP TS 28.312 expectations to the edge:
 * `cn|ran|tn.nephio.org/v1alpha1 CNBundle|RANBundle|TNBundle`. This file is the source of truth for
 * their TypeScript types and their CRDs, so the schema always matches what the renderer emits.
 */

export const EXPECTATION_TYPES = ['ServicePerformance', 'ServiceCapacity', 'ServiceCoverage'] as const;
export type ExpectationType = (typeof EXPECTATION_TYPES)[number];

export const OBJECT_TYPES = ['RANFunction', 'CoreNetwork', 'TransportNetwork'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export const TARGET_CONDITIONS = [
  'LESS_THAN',
  'LESS_THAN_OR_EQUAL',
  'GREATER_THAN',
  'GREATER_THAN_OR_EQUAL',
  'EQUAL',
] as const;
export type TargetCondition = (typeof TARGET_CONDITIONS)[number];

/** One requirement as a bundle carries it: `latency: {condition: LESS_THAN, value: 1ms}`. */
export interface BundleTarget {
  condition: TargetCondition;
  value: string;
}

interface BundleSpecBase {
  expectationId: string;
  expectationType: ExpectationType;
  objectInstance: string;
}

export interface BundleStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** The O2IMS ProvisioningRequest that fulfils this bundle. */
  provisioningRequest?: string;
}

/** How each bundle kind is spelled and which section carries its targets. */
export interface BundleKindInfo {
  readonly group: string;
  readonly kind: 'CNBundle' | 'RANBundle' | 'TNBundle';
  readonly plural: string;
  readonly shortName: string;
  readonly expectationType: ExpectationType;
  readonly objectType: ObjectType;
  /** Name prefix: `cn-bundle-<expectationId>`. */
  readonly namePrefix: string;
  /** The spec field holding the targets. */
  readonly section: 'capacity' | 'performance' | 'coverage';
  /** The spec field listing what the bundle applies to. */
  readonly members: 'networkSlices' | 'networkFunctions' | 'transportNetworks';
  /** The target attributes the section accepts. */
  readonly attributes: readonly string[];
}

export const CN_BUNDLE: BundleKindInfo = {
  group: 'cn.nephio.org',
  kind: 'CNBundle',
  plural: 'cnbundles',
  shortName: 'cnb',
  expectationType: 'ServiceCapacity',
  objectType: 'CoreNetwork',
  namePrefix: 'cn-bundle',
  section: 'capacity',
  members: 'networkSlices',
  attributes: ['latency', 'throughput', 'maxSessions', 'maxSubscribers'],
};

export const RAN_BUNDLE: BundleKindInfo = {
  group: 'ran.nephio.org',
  kind: 'RANBundle',
  plural: 'ranbundles',
  shortName: 'ranb',
  expectationType: 'ServicePerformance',
  objectType: 'RANFunction',
  namePrefix: 'ran-bundle',
  section: 'performance',
  members: 'networkFunctions',
  attributes: ['userThroughput', 'radioLatency', 'prbUtilization', 'handoverSuccessRate', 'packetLoss'],
};

export const TN_BUNDLE: BundleKindInfo = {
  group: 'tn.nephio.org',
  kind: 'TNBundle',
  plural: 'tnbundles',
  shortName: 'tnb',
  expectationType: 'ServiceCoverage',
  objectType: 'TransportNetwork',
  namePrefix: 'tn-bundle',
  section: 'coverage',
  members: 'transportNetworks',
  attributes: ['availability', 'reliability', 'bandwidth', 'jitter'],
};

export const BUNDLE_KINDS: readonly BundleKindInfo[] = [CN_BUNDLE, RAN_BUNDLE, TN_BUNDLE];

export function bundleKindFor(type: ExpectationType): BundleKindInfo {
  const info = BUNDLE_KINDS.find((b) => b.expectationType === type);
  if (!info) throw new Error(`no bundle kind carries expectations of type ${type}`);
  return info;
}

export const BUNDLE_VERSION = 'v1alpha1';

export interface CNBundle {
  apiVersion: 'cn.nephio.org/v1alpha1';
  kind: 'CNBundle';
  metadata: ObjectMeta;
  spec: BundleSpecBase & { networkSlices: string[]; capacity: Record<string, BundleTarget> };
  status?: BundleStatus;
}

export interface RANBundle {
  apiVersion: 'ran.nephio.org/v1alpha1';
  kind: 'RANBundle';
  metadata: ObjectMeta;
  spec: BundleSpecBase & { networkFunctions: string[]; performance: Record<string, BundleTarget> };
  status?: BundleStatus;
}

export interface TNBundle {
  apiVersion: 'tn.nephio.org/v1alpha1';
  kind: 'TNBundle';
  metadata: ObjectMeta;
  spec: BundleSpecBase & { transportNetworks: string[]; coverage: Record<string, BundleTarget> };
  status?: BundleStatus;
}

export type Bundle = CNBundle | RANBundle | TNBundle;

export const CNBundles = kind<CNBundle>('cn.nephio.org/v1alpha1', 'CNBundle');
export const RANBundles = kind<RANBundle>('ran.nephio.org/v1alpha1', 'RANBundle');
export const TNBundles = kind<TNBundle>('tn.nephio.org/v1alpha1', 'TNBundle');

const targetSchema: JSONSchemaProps = {
  type: 'object',
  required: ['condition', 'value'],
  properties: {
    condition: { type: 'string', enum: [...TARGET_CONDITIONS] },
    value: { type: 'string', minLength: 1 },
  },
};

export function bundleSpecSchema(info: BundleKindInfo): JSONSchemaProps {
  const targets: Record<string, JSONSchemaProps> = {};
  for (const a of info.attributes) targets[a] = targetSchema;
  return {
    type: 'object',
    required: ['expectationId', 'expectationType', 'objectInstance', info.members, info.section],
    properties: {
      expectationId: { type: 'string', minLength: 1, maxLength: 63 },
      expectationType: { type: 'string', enum: [info.expectationType] },
      objectInstance: { type: 'string', minLength: 1 },
      [info.members]: { type: 'array', items: { type: 'string' } },
      [info.section]: { type: 'object', minProperties: 1, properties: targets },
    },
  };
}

/** The bundle kind's CRD; its spec schema names every field the renderer writes and no other. */
export function bundleCrd(info: BundleKindInfo): CustomResourceDefinition {
  return customResourceDefinition({
    group: info.group,
    version: BUNDLE_VERSION,
    kind: info.kind,
    plural: info.plural,
    scope: 'Namespaced',
    shortNames: [info.shortName],
    categories: ['nephio', 'bundles'],
    spec: bundleSpecSchema(info),
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64' },
        provisioningRequest: { type: 'string' },
        conditions: conditionsSchema,
      },
    },
    printerColumns: [
      { name: 'Expectation', type: 'string', jsonPath: '.spec.expectationId' },
      { name: 'Object', type: 'string', jsonPath: '.spec.objectInstance' },
      { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
      ageColumn,
    ],
  });
}

export function bundleCrds(): CustomResourceDefinition[] {
  return BUNDLE_KINDS.map(bundleCrd);
}
