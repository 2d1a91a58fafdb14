import { Ajv, type ErrorObject } from 'ajv';
import { EXPECTATION_TYPES, OBJECT_TYPES, TARGET_CONDITIONS } from '../apis/nephio/bundles.js';
import type { IntentExpectation } from './expectation.js';
import type { Problem } from './translate.js';

/** JSON Schema of an IntentExpectation as Tutti reads it back (from files, ConfigMaps, kpt input). */
export const EXPECTATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'intentExpectationId',
    'intentExpectationType',
    'intentExpectationTarget',
    'intentExpectationObject',
  ],
  properties: {
    intentExpectationId: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    intentExpectationType: { enum: [...EXPECTATION_TYPES] },
    intentExpectationContext: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['contextAttribute', 'contextCondition', 'contextValueRange'],
        properties: {
          contextAttribute: { type: 'string', minLength: 1 },
          contextCondition: { enum: ['EQUAL', 'ONE_OF'] },
          contextValueRange: { type: 'array', minItems: 1, items: { type: 'string' } },
        },
      },
    },
    intentExpectationTarget: {
      type: 'object',
      additionalProperties: false,
      required: ['targetAttribute', 'targetCondition', 'targetValue'],
      properties: {
        targetAttribute: { type: 'string', minLength: 1 },
        targetCondition: { enum: [...TARGET_CONDITIONS] },
        targetValue: { type: 'string', minLength: 1 },
      },
    },
    intentExpectationObject: {
      type: 'object',
      additionalProperties: false,
      required: ['objectType', 'objectInstance'],
      properties: {
        objectType: { enum: [...OBJECT_TYPES] },
        objectInstance: { type: 'string', minLength: 1 },
      },
    },
    // Rendered as the value of label intent.tutti.dev/id: anything else the API server would refuse.
    intentId: { type: 'string', pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', maxLength: 63 },
    members: { type: 'array', items: { type: 'string', minLength: 1 } },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(EXPECTATION_SCHEMA);

/** Schema problems of one expectation, each naming its field under `base`. */
export function expectationProblems(value: unknown, base: string): Problem[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => ajvProblem(e, base));
}

export function isExpectation(value: unknown): value is IntentExpectation {
  return expectationProblems(value, '').length === 0;
}

/** An ajv error as a Problem: the JSON pointer becomes a dotted field path. */
export function ajvProblem(e: ErrorObject, base: string): Problem {
  let path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('');
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') {
    path += `.${String(e.params['additionalProperty'])}`;
    message = 'unknown field';
  } else if (e.keyword === 'required') {
    path += `.${String(e.params['missingProperty'])}`;
    message = 'required';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(e.params['allowedValues'] as unknown[]).join(', ')}`;
  }
  const field = `${base}${path}`.replace(/^\./, '');
  return { field: field || '(root)', message };
}
