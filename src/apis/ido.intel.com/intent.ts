import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { ageColumn, customResourceDefinition } from '../crd.js';

/**
 * `ido.intel.com/v1alpha1 Intent`: the objectives a workload should meet. Field names, defaults
 * and bounds are IDO's, so IDO manifests apply unchanged; the status is Tutti's addition (IDO
 * never wrote one). This file is the source of truth for the types and for
 * config/crd/ido.intel.com_intents.yaml.
 */

export const IDO_GROUP = 'ido.intel.com';
export const IDO_VERSION = 'v1alpha1';
export const IDO_API_VERSION = `${IDO_GROUP}/${IDO_VERSION}`;

export const TARGET_KINDS = ['Deployment', 'ReplicaSet'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** IDO's bounds: a priority of 0 would divide by zero in utility scaling. */
export const MIN_PRIORITY = 0.01;
export const MAX_PRIORITY = 1.0;
export const DEFAULT_PRIORITY = MIN_PRIORITY;
export const MIN_OBJECTIVES = 1;
export const MAX_OBJECTIVES = 5;

/** Condition types Tutti writes, in the metav1.Condition shape. */
export const CONDITION_FULFILLED = 'Fulfilled';
export const CONDITION_PLANNING = 'Planning';
export const CONDITION_CONFLICT = 'Conflict';
export const CONDITION_DEGRADED = 'Degraded';

export interface TargetRef {
  kind?: TargetKind;
  /** `<namespace>/<name>` of the Deployment or ReplicaSet. */
  name: string;
}

export interface Objective {
  name: string;
  value: number;
  /** `<namespace>/<kpiprofile>`. */
  measuredBy: string;
  /** A fraction of `value`: 0.1 on a 10 ms bound accepts 11 ms. */
  tolerance?: number;
}

export interface IntentSpec {
  targetRef: TargetRef;
  priority?: number;
  active?: boolean;
  objectives: Objective[];
}

export interface ObjectiveStatus {
  name: string;
  /** The last observed value, absent when it could not be observed (see the Degraded condition). */
  current?: number;
  met?: boolean;
}

export interface PlannedAction {
  name: string;
  properties?: Record<string, string | number>;
}

export interface LastPlan {
  actions: PlannedAction[];
  /** When the plan was made. */
  time: string;
  /** Whether the actions were carried out (false when another intent won, or acting failed). */
  carriedOut: boolean;
  /** Why the plan was not carried out, or how it ended. */
  message?: string;
  /**
   * The KPIProfiles the plan was measured by, `namespace/name@generation` joined by commas: a
   * planner started later knows whether one was edited since (Tutti's addition).
   */
  kpiProfiles?: string;
}

export interface IntentStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  objectives?: ObjectiveStatus[];
  lastPlan?: LastPlan;
}

export interface Intent {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: IntentSpec;
  status?: IntentStatus;
}

export const Intents = kind<Intent>(IDO_API_VERSION, 'Intent');

const objectiveSchema: JSONSchemaProps = {
  type: 'object',
  required: ['name', 'value', 'measuredBy'],
  properties: {
    name: { type: 'string', description: 'Name of this objective, e.g. P50compliance.' },
    value: { type: 'number', format: 'float', description: 'Target value, e.g. 10 for 10 ms.' },
    measuredBy: {
      type: 'string',
      description:
        'The KPIProfile measuring it, as <namespace>/<name>; its minimize says upper or lower bound.',
    },
    tolerance: {
      type: 'number',
      format: 'float',
      minimum: 0,
      default: 0,
      description: 'Tolerance as a fraction of value, e.g. 0.1 on a 10 ms target accepts 11 ms.',
    },
  },
};

const specSchema: JSONSchemaProps = {
  type: 'object',
  required: ['targetRef', 'objectives'],
  properties: {
    targetRef: {
      type: 'object',
      description: 'The controller managing the set of pods.',
      required: ['name'],
      properties: {
        kind: { type: 'string', enum: [...TARGET_KINDS], default: 'Deployment' },
        name: { type: 'string', description: 'The owner as <namespace>/<name>.' },
      },
    },
    priority: {
      type: 'number',
      format: 'float',
      minimum: MIN_PRIORITY,
      maximum: MAX_PRIORITY,
      default: DEFAULT_PRIORITY,
      description: 'Priority of this set of pods (0.01 to 1.0).',
      // The API server lets a literal 0 past `minimum` (IDO's CRD accepted it too); CEL does not.
      'x-kubernetes-validations': [
        {
          rule: `self >= ${MIN_PRIORITY} && self <= ${MAX_PRIORITY}`,
          message: 'priority must be within 0.01 and 1.0',
        },
      ],
    } as JSONSchemaProps,
    active: { type: 'boolean', default: true, description: 'Whether the planner manages this intent.' },
    objectives: {
      type: 'array',
      minItems: MIN_OBJECTIVES,
      maxItems: MAX_OBJECTIVES,
      // Names key the status's objectives (a list-map too): two objectives of one name could
      // never be reported, so the API server refuses them.
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: objectiveSchema,
    } as JSONSchemaProps,
  },
};

const statusSchema: JSONSchemaProps = {
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64' },
    conditions: conditionsSchema,
    objectives: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, current: { type: 'number' }, met: { type: 'boolean' } },
      },
    } as JSONSchemaProps,
    lastPlan: {
      type: 'object',
      required: ['actions', 'time', 'carriedOut'],
      properties: {
        actions: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string' },
              properties: {
                type: 'object',
                additionalProperties: { 'x-kubernetes-int-or-string': true } as JSONSchemaProps,
              },
            },
          },
        },
        time: { type: 'string', format: 'date-time' },
        carriedOut: { type: 'boolean' },
        message: { type: 'string' },
        kpiProfiles: { type: 'string' },
      },
    },
  },
};

export function intentCrd(): CustomResourceDefinition {
  return customResourceDefinition({
    group: IDO_GROUP,
    version: IDO_VERSION,
    kind: 'Intent',
    plural: 'intents',
    scope: 'Namespaced',
    shortNames: ['i', 'ido'],
    categories: ['all'],
    spec: specSchema,
    status: statusSchema,
    printerColumns: [
      { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
      { name: 'Prio', type: 'number', jsonPath: '.spec.priority' },
      {
        name: 'Fulfilled',
        type: 'string',
        jsonPath: `.status.conditions[?(@.type=="${CONDITION_FULFILLED}")].status`,
      },
      ageColumn,
    ],
  });
}
