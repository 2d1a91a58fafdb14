import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { customResourceDefinition } from '../crd.js';

/**
 * `intent.nephoran.com/v1alpha1 NetworkIntent`: one validated intent, created by conductor-loop
 * from an intent file and acted on by the NetworkIntent reconciler. This file is the source of
 * truth for the types and the CRD (config/crd/intent.nephoran.com_networkintents.yaml).
 */

export const NETWORK_INTENT_GROUP = 'intent.nephoran.com';
export const NETWORK_INTENT_VERSION = 'v1alpha1';
export const NETWORK_INTENT_API_VERSION = `${NETWORK_INTENT_GROUP}/${NETWORK_INTENT_VERSION}`;

export const INTENT_TYPES = ['scaling', 'deployment', 'configuration'] as const;
export type IntentType = (typeof INTENT_TYPES)[number];

/** The sources the reconciler accepts; the CRD admits any string so that others reach status. */
export const INTENT_SOURCES = ['user', 'planner', 'test'] as const;

export const NETWORK_INTENT_PHASES = ['Pending', 'Validated', 'Deploying', 'Deployed', 'Failed'] as const;
export type NetworkIntentPhase = (typeof NETWORK_INTENT_PHASES)[number];

export interface ScalingParameters {
  /** The replica count is clamped to [minReplicas, maxReplicas] when these are set. */
  minReplicas?: number;
  maxReplicas?: number;
}

export interface NetworkIntentSpec {
  intentType: string;
  target: string;
  /** The namespace of the target workload. */
  namespace: string;
  replicas: number;
  source?: string;
  scalingParameters?: ScalingParameters;
  /** Network settings for the A1 policy and other consumers; kept as given. */
  networkParameters?: Record<string, unknown>;
}

export interface NetworkIntentStatus {
  phase?: NetworkIntentPhase;
  message?: string;
  conditions?: Condition[];
  /** The replica count the target was scaled to (after clamping). */
  observedReplicas?: number;
  readyReplicas?: number;
  observedGeneration?: number;
}

export interface NetworkIntent {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: NetworkIntentSpec;
  status?: NetworkIntentStatus;
}

export const NetworkIntents = kind<NetworkIntent>(NETWORK_INTENT_API_VERSION, 'NetworkIntent');

const replicaCount: JSONSchemaProps = { type: 'integer', format: 'int32', minimum: 0 };

const specSchema: JSONSchemaProps = {
  type: 'object',
  required: ['intentType', 'target', 'namespace', 'replicas'],
  properties: {
    intentType: {
      type: 'string',
      enum: [...INTENT_TYPES],
      description: 'What the intent asks for: scaling, deployment or configuration.',
    },
    // Target and source are checked by the reconciler, which reports a bad value in status.
    target: { type: 'string', description: 'The workload the intent acts on (a Deployment for scaling).' },
    namespace: { type: 'string', description: 'The namespace of the target workload.' },
    replicas: { ...replicaCount, description: 'The desired replica count.' },
    source: { type: 'string', description: 'Who made the intent: user, planner or test.' },
    scalingParameters: {
      type: 'object',
      properties: { minReplicas: replicaCount, maxReplicas: replicaCount },
      'x-kubernetes-validations': [
        {
          rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
          message: 'minReplicas must not exceed maxReplicas',
        },
      ],
    } as JSONSchemaProps,
    networkParameters: {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      description: 'Network settings (QoS, slice, A1 policy parameters), kept as given.',
    } as JSONSchemaProps,
  },
};

const statusSchema: JSONSchemaProps = {
  type: 'object',
  properties: {
    phase: { type: 'string', enum: [...NETWORK_INTENT_PHASES] },
    message: { type: 'string' },
    conditions: conditionsSchema,
    observedReplicas: replicaCount,
    readyReplicas: replicaCount,
    observedGeneration: { type: 'integer', format: 'int64' },
  },
};

export function networkIntentCrd(): CustomResourceDefinition {
  return customResourceDefinition({
    group: NETWORK_INTENT_GROUP,
    version: NETWORK_INTENT_VERSION,
    kind: 'NetworkIntent',
    plural: 'networkintents',
    scope: 'Namespaced',
    shortNames: ['ni'],
    description: 'NetworkIntent is one validated intent for the network.',
    spec: specSchema,
    status: statusSchema,
    printerColumns: [
      { name: 'TARGET', type: 'string', jsonPath: '.spec.target' },
      { name: 'REPLICAS', type: 'integer', jsonPath: '.spec.replicas' },
      { name: 'PHASE', type: 'string', jsonPath: '.status.phase' },
      { name: 'AGE', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}
