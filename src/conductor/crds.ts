import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { networkIntentCrd } from '../apis/intent.nephoran.com/network-intent.js';

/** The CRDs the conductor module defines, generated from src/apis/intent.nephoran.com. */
export function conductorCrds(): CustomResourceDefinition[] {
  return [networkIntentCrd()];
}
