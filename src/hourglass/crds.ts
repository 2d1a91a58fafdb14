import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { performerCrd } from '../apis/hourglass.eigenlayer.io/performer.js';

/** Every CRD the hourglass module defines, generated from its types in src/apis. */
export function hourglassCrds(): CustomResourceDefinition[] {
  return [performerCrd()];
}
