import type { JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';

/**
 * The OpenAPI schema of a `metav1.Condition` list as Kubernetes' own types declare it, merged by
 * type under server-side apply. (The x-kubernetes-* keys are missing from kubernetes-types.)
 */
export const conditionsSchema = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
    properties: {
      type: { type: 'string', maxLength: 316 },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: { type: 'string', maxLength: 1024, minLength: 1 },
      message: { type: 'string', maxLength: 32768 },
    },
  },
} as JSONSchemaProps;
