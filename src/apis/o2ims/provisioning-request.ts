import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { ageColumn, customResourceDefinition } from '../crd.js';

/** O-RAN O2IMS `o2ims.provisioning.oran.org/v1alpha1 ProvisioningRequest` (cluster-scoped). */

export const PROVISIONING_STATES = ['progressing', 'fulfilled', 'failed', 'deleting'] as const;
export type ProvisioningState = (typeof PROVISIONING_STATES)[number];

export interface ProvisioningRequest {
  apiVersion: 'o2ims.provisioning.oran.org/v1alpha1';
  kind: 'ProvisioningRequest';
  metadata: ObjectMeta;
  spec: {
    name?: string;
    description?: string;
    templateName: string;
    templateVersion: string;
    templateParameters: Record<string, unknown>;
  };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    provisioningStatus?: {
      provisioningState?: ProvisioningState;
      provisioningDetails?: string;
      provisionedResourceSet?: { namespace?: string; resources?: string[] };
      updateTime?: string;
    };
  };
}

export const ProvisioningRequests = kind<ProvisioningRequest>(
  'o2ims.provisioning.oran.org/v1alpha1',
  'ProvisioningRequest',
);

export function provisioningRequestCrd(): CustomResourceDefinition {
  return customResourceDefinition({
    group: 'o2ims.provisioning.oran.org',
    version: 'v1alpha1',
    kind: 'ProvisioningRequest',
    plural: 'provisioningrequests',
    scope: 'Cluster',
    shortNames: ['oranpr'],
    spec: {
      type: 'object',
      required: ['templateName', 'templateVersion', 'templateParameters'],
      properties: {
        name: { type: 'string' },
        description: { type: 'string' },
        templateName: { type: 'string', minLength: 1 },
        templateVersion: { type: 'string', minLength: 1 },
        templateParameters: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
        } as never,
      },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64' },
        conditions: conditionsSchema,
        provisioningStatus: {
          type: 'object',
          properties: {
            provisioningState: { type: 'string', enum: [...PROVISIONING_STATES] },
            provisioningDetails: { type: 'string' },
            provisionedResourceSet: {
              type: 'object',
              properties: {
                namespace: { type: 'string' },
                resources: { type: 'array', items: { type: 'string' } },
              },
            },
            updateTime: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    printerColumns: [
      { name: 'Template', type: 'string', jsonPath: '.spec.templateName' },
      { name: 'Version', type: 'string', jsonPath: '.spec.templateVersion' },
      { name: 'State', type: 'string', jsonPath: '.status.provisioningStatus.provisioningState' },
      ageColumn,
    ],
  });
}
