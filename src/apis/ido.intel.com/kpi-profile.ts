import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { ageColumn, customResourceDefinition } from '../crd.js';
import { IDO_API_VERSION, IDO_GROUP, IDO_VERSION } from './intent.js';

/**
 * `ido.intel.com/v1alpha1 KPIProfile`: how one KPI is measured. Same fields, defaults and status
 * as IDO's; the source of truth for config/crd/ido.intel.com_kpiprofiles.yaml.
 */

export const KPI_TYPES = ['availability', 'latency', 'throughput', 'power'] as const;
export type KpiType = (typeof KPI_TYPES)[number];

export interface KpiProfileSpec {
  /** PromQL; `%s` placeholders take namespace, the target kind's label, its name, that label again. */
  query?: string;
  description?: string;
  /** True for an upper bound (latency), false for a lower bound (throughput, availability). */
  minimize?: boolean;
  type: KpiType;
  /** `endpoint` (the Prometheus query URL) and any other string property. */
  props?: Record<string, unknown>;
}

export interface KpiProfileStatus {
  resolved?: boolean;
  reason?: string;
}

export interface KpiProfile {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: KpiProfileSpec;
  status?: KpiProfileStatus;
}

export const KpiProfiles = kind<KpiProfile>(IDO_API_VERSION, 'KPIProfile');

/** One entry of IDO's default_queries.json, keyed `<namespace>/<profile>`. */
export interface DefaultQuery {
  query: string;
  endpoint: string;
}

const LINKERD_PROMETHEUS = 'http://prometheus.linkerd-viz:9090/api/v1/query';
const latency = (q: string): string =>
  `histogram_quantile(${q},sum(irate(response_latency_ms_bucket{namespace="%s",%s="%s",direction="inbound"}[30s]))by(le,%s))`;

/**
 * IDO's default_queries.json (Linkerd's metrics, queried per workload). Kept verbatim, including
 * the throughput query's harmless `le` grouping, so that existing queries ConfigMaps match.
 */
export const DEFAULT_QUERIES: Readonly<Record<string, DefaultQuery>> = {
  'default/p50latency': { query: latency('0.5'), endpoint: LINKERD_PROMETHEUS },
  'default/p95latency': { query: latency('0.95'), endpoint: LINKERD_PROMETHEUS },
  'default/p99latency': { query: latency('0.99'), endpoint: LINKERD_PROMETHEUS },
  'default/throughput': {
    query: 'sum(irate(request_total{namespace="%s",%s="%s",direction="inbound"}[30s]))by(le,%s)',
    endpoint: LINKERD_PROMETHEUS,
  },
  'default/availability': { query: '', endpoint: '' },
};

const profile = (name: string, spec: KpiProfileSpec): KpiProfile => ({
  apiVersion: IDO_API_VERSION,
  kind: 'KPIProfile',
  metadata: { name, namespace: 'default' },
  spec,
});

/** The default profiles IDO ships (their queries come from DEFAULT_QUERIES). */
export function defaultKpiProfiles(): KpiProfile[] {
  const window = 'over a 30s time window as reported by Linkerd service mesh.';
  return [
    profile('p50latency', { type: 'latency', description: `Measures P50 latency in ms ${window}` }),
    profile('p95latency', { type: 'latency', description: `Measures P95 latency in ms ${window}` }),
    profile('p99latency', { type: 'latency', description: `Measures P99 latency in ms ${window}` }),
    profile('throughput', {
      type: 'throughput',
      minimize: false,
      description: `Measures requests per second aggregated ${window}`,
    }),
    profile('availability', {
      type: 'availability',
      minimize: false,
      description: 'Fraction of the target pods that are ready and have not restarted or failed.',
    }),
  ];
}

const specSchema: JSONSchemaProps = {
  type: 'object',
  required: ['type'],
  properties: {
    query: {
      type: 'string',
      description: 'How to capture the KPI; required for a custom profile, with props.endpoint.',
    },
    description: { type: 'string', description: 'What the query measures, including units.' },
    minimize: { type: 'boolean', default: true, description: 'Whether the planner minimizes this KPI.' },
    type: { type: 'string', enum: [...KPI_TYPES], description: 'The type of the KPI.' },
    props: {
      type: 'object',
      description: 'Optional properties, e.g. endpoint: the Prometheus query URL.',
      'x-kubernetes-preserve-unknown-fields': true,
    } as JSONSchemaProps,
  },
};

export function kpiProfileCrd(): CustomResourceDefinition {
  return customResourceDefinition({
    group: IDO_GROUP,
    version: IDO_VERSION,
    kind: 'KPIProfile',
    plural: 'kpiprofiles',
    scope: 'Namespaced',
    shortNames: ['kp', 'kpis'],
    categories: ['all'],
    spec: specSchema,
    status: {
      type: 'object',
      properties: {
        resolved: { type: 'boolean', description: 'Whether the planner understands this profile.' },
        reason: { type: 'string', description: 'Why the profile is not accepted.' },
      },
    },
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Resolved', type: 'boolean', jsonPath: '.status.resolved' },
      ageColumn,
    ],
  });
}
