import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { intentCrd } from '../apis/ido.intel.com/intent.js';
import { kpiProfileCrd } from '../apis/ido.intel.com/kpi-profile.js';

/** The planner's CRDs (IDO's Intent and KPIProfile), generated from their types in src/apis. */
export function plannerCrds(): CustomResourceDefinition[] {
  return [intentCrd(), kpiProfileCrd()];
}
