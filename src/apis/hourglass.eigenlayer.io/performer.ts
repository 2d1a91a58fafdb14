import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import type {
  Affinity,
  ConfigMapEnvSource,
  ConfigMapKeySelector,
  LocalObjectReference,
  ResourceRequirements,
  SecretEnvSource,
  SecretKeySelector,
  Toleration,
} from 'kubernetes-types/core/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { ageColumn, customResourceDefinition } from '../crd.js';

/**
 * `hourglass.eigenlayer.io/v1alpha1 Performer`: one AVS performer that the operator runs as a Pod
 * behind a Service with a stable DNS name. This file is the source of truth for the TypeScript
 * types and the CRD (config/crd/hourglass.eigenlayer.io_performers.yaml is generated from it).
 */

export const PERFORMER_GROUP = 'hourglass.eigenlayer.io';
export const PERFORMER_VERSION = 'v1alpha1';
export const PERFORMER_API_VERSION = `${PERFORMER_GROUP}/${PERFORMER_VERSION}`;

/** The gRPC port a performer listens on when `spec.config.grpcPort` is absent. */
export const DEFAULT_GRPC_PORT = 9090;

/**
 * Holds a Performer until the operator has removed its Pod and Service. The operator adds it
 * before making either; the executor SDK creates Performers with it already set, which spares the
 * API server a write and the operator a reconcile per Performer.
 */
export const PERFORMER_FINALIZER = 'hourglass.eigenlayer.io/finalizer';

export const PERFORMER_PHASES = ['Pending', 'Running', 'Upgrading', 'Terminating', 'Failed'] as const;
export type PerformerPhase = (typeof PERFORMER_PHASES)[number];

export const TEE_TYPES = ['sgx', 'sev', 'tdx'] as const;
export type TeeType = (typeof TEE_TYPES)[number];

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

/** Condition types the operator writes, in the metav1.Condition shape. */
export const CONDITION_AVAILABLE = 'Available';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_DEGRADED = 'Degraded';

/**
 * One entry of `spec.config.environmentFrom`: either a single variable taken from a Secret or
 * ConfigMap key (`name` + `valueFrom`), or every key of a Secret or ConfigMap (`secretRef` /
 * `configMapRef`, optional `prefix`), as in a container's `env` and `envFrom`.
 */
export interface PerformerEnvironmentFrom {
  name?: string;
  valueFrom?: { secretKeyRef?: SecretKeySelector; configMapKeyRef?: ConfigMapKeySelector };
  secretRef?: SecretEnvSource;
  configMapRef?: ConfigMapEnvSource;
  prefix?: string;
}

export interface PerformerConfig {
  grpcPort?: number;
  environment?: Record<string, string>;
  environmentFrom?: PerformerEnvironmentFrom[];
  args?: string[];
  command?: string[];
  serviceAccountName?: string;
}

export interface PerformerScheduling {
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  affinity?: Affinity;
  /** The Pod's runtimeClassName. */
  runtimeClass?: string;
  priorityClassName?: string;
}

export interface HardwareRequirements {
  /** `nvidia.com/<gpuType>` is requested instead of `nvidia.com/gpu` when set. */
  gpuType?: string;
  gpuCount?: number;
  teeRequired?: boolean;
  teeType?: TeeType;
  /** Labels added to the performer Pod. */
  customLabels?: Record<string, string>;
}

export interface PerformerSpec {
  avsAddress: string;
  image: string;
  imagePullPolicy?: (typeof IMAGE_PULL_POLICIES)[number];
  version?: string;
  config?: PerformerConfig;
  resources?: ResourceRequirements;
  scheduling?: PerformerScheduling;
  hardwareRequirements?: HardwareRequirements;
  imagePullSecrets?: LocalObjectReference[];
}

export interface PerformerStatus {
  phase?: PerformerPhase;
  ready?: boolean;
  podName?: string;
  serviceName?: string;
  grpcEndpoint?: string;
  readyTime?: string;
  lastUpgrade?: string;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface Performer {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PerformerSpec;
  status?: PerformerStatus;
}

export const Performers = kind<Performer>(PERFORMER_API_VERSION, 'Performer');

/**
 * The longest Performer name: its Service is `performer-<name>`, a DNS label of at most 63
 * characters, and its Pod adds a revision suffix during upgrades.
 */
export const MAX_PERFORMER_NAME = 53;

const stringMap: JSONSchemaProps = { type: 'object', additionalProperties: { type: 'string' } };
const stringList: JSONSchemaProps = { type: 'array', items: { type: 'string' } };
const quantity = {
  'x-kubernetes-int-or-string': true,
  pattern:
    '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
} as JSONSchemaProps;
const quantities: JSONSchemaProps = { type: 'object', additionalProperties: quantity };
const keySelector: JSONSchemaProps = {
  type: 'object',
  required: ['key'],
  properties: { name: { type: 'string' }, key: { type: 'string' }, optional: { type: 'boolean' } },
};
const nameRef: JSONSchemaProps = {
  type: 'object',
  properties: { name: { type: 'string' }, optional: { type: 'boolean' } },
};
/**
 * `hardwareRequirements.customLabels`, as Pod labels must be. Values by pattern; keys by a rule on
 * this map alone (a schema cannot restrict a map's keys), which runs only when the map changes.
 */
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const LABEL_PREFIX = '[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const customLabels = {
  type: 'object',
  maxProperties: 64,
  additionalProperties: { type: 'string', maxLength: 63, pattern: `^(${LABEL_NAME})?$` },
  'x-kubernetes-validations': [
    {
      rule: `self.all(k, k.matches('^(${LABEL_PREFIX}/)?${LABEL_NAME}$') && (!k.contains('/') || k.indexOf('/') <= 253))`,
      message:
        'a customLabels key is a label key: an optional DNS subdomain prefix and "/", then at most 63 of A-Z, a-z, 0-9, "-", "_", "." starting and ending alphanumeric',
    },
  ],
} as JSONSchemaProps;

/** Kubernetes' own structures (affinity) are validated by the API server when the Pod is made. */
const opaqueObject = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } as JSONSchemaProps;

const specSchema = {
  type: 'object',
  required: ['avsAddress', 'image'],
  // The version is the image's tag: with a tag or digest in the image too, it could only be
  // ignored, so a Performer would show a version it does not run. Refused instead.
  'x-kubernetes-validations': [
    {
      rule: "!has(self.version) || self.version == '' || !(self.image.contains('@') || self.image.matches(':[^/]*$'))",
      message: 'version is the image tag: give it in image (with a tag or digest) or in version, not in both',
      fieldPath: '.version',
    },
  ],
  properties: {
    avsAddress: { type: 'string', minLength: 1, description: 'The AVS this performer serves.' },
    image: { type: 'string', minLength: 1, description: 'The performer container image.' },
    imagePullPolicy: { type: 'string', enum: [...IMAGE_PULL_POLICIES] },
    version: { type: 'string', description: 'The performer version; a change upgrades the Pod.' },
    config: {
      type: 'object',
      properties: {
        grpcPort: {
          type: 'integer',
          format: 'int32',
          minimum: 1,
          maximum: 65535,
          default: DEFAULT_GRPC_PORT,
        },
        environment: stringMap,
        environmentFrom: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              valueFrom: {
                type: 'object',
                properties: { secretKeyRef: keySelector, configMapKeyRef: keySelector },
              },
              secretRef: nameRef,
              configMapRef: nameRef,
              prefix: { type: 'string' },
            },
            'x-kubernetes-validations': [
              {
                rule: '(has(self.valueFrom) && has(self.name)) != (has(self.secretRef) || has(self.configMapRef))',
                message: 'an environmentFrom entry has either name and valueFrom, or secretRef/configMapRef',
              },
            ],
          } as JSONSchemaProps,
        },
        args: stringList,
        command: stringList,
        serviceAccountName: { type: 'string' },
      },
    },
    resources: {
      type: 'object',
      properties: { requests: quantities, limits: quantities },
    },
    scheduling: {
      type: 'object',
      properties: {
        nodeSelector: stringMap,
        tolerations: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              key: { type: 'string' },
              operator: { type: 'string', enum: ['Exists', 'Equal'] },
              value: { type: 'string' },
              effect: { type: 'string', enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
              tolerationSeconds: { type: 'integer', format: 'int64' },
            },
          },
        },
        affinity: opaqueObject,
        runtimeClass: { type: 'string' },
        priorityClassName: { type: 'string' },
      },
    },
    hardwareRequirements: {
      type: 'object',
      properties: {
        gpuType: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$' },
        gpuCount: { type: 'integer', format: 'int32', minimum: 0 },
        teeRequired: { type: 'boolean' },
        teeType: { type: 'string', enum: [...TEE_TYPES] },
        customLabels,
      },
      'x-kubernetes-validations': [
        {
          rule: '!has(self.teeRequired) || !self.teeRequired || has(self.teeType)',
          message: 'teeRequired needs teeType (sgx, sev or tdx)',
        },
      ],
    } as JSONSchemaProps,
    imagePullSecrets: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
  },
} as JSONSchemaProps;

const statusSchema: JSONSchemaProps = {
  type: 'object',
  // What a Performer reads as until the operator first reports: the API server fills it in on
  // every read of a Performer without status, so none is ever shown without a phase.
  default: { phase: 'Pending', ready: false },
  properties: {
    phase: { type: 'string', enum: [...PERFORMER_PHASES] },
    ready: { type: 'boolean' },
    podName: { type: 'string' },
    serviceName: { type: 'string' },
    grpcEndpoint: { type: 'string' },
    readyTime: { type: 'string', format: 'date-time' },
    lastUpgrade: { type: 'string', format: 'date-time' },
    observedGeneration: { type: 'integer', format: 'int64' },
    conditions: conditionsSchema,
  },
};

export function performerCrd(): CustomResourceDefinition {
  return customResourceDefinition({
    group: PERFORMER_GROUP,
    version: PERFORMER_VERSION,
    kind: 'Performer',
    plural: 'performers',
    scope: 'Namespaced',
    shortNames: ['perf'],
    spec: specSchema,
    status: statusSchema,
    printerColumns: [
      { name: 'AVS', type: 'string', jsonPath: '.spec.avsAddress' },
      { name: 'Image', type: 'string', jsonPath: '.spec.image' },
      { name: 'Version', type: 'string', jsonPath: '.spec.version' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Endpoint', type: 'string', jsonPath: '.status.grpcEndpoint' },
      ageColumn,
    ],
    // A DNS label short enough for performer-<name> and a revision suffix.
    name: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: MAX_PERFORMER_NAME },
  });
}
