import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { stringify } from 'yaml';
import { intentCrd } from '../apis/ido.intel.com/intent.js';
import { kpiProfileCrd } from '../apis/ido.intel.com/kpi-profile.js';

/** The planner's CRDs (IDO's Intent and KPIProfile), generated from their types in src/apis. */
export function plannerCrds(): CustomResourceDefinition[] {
  return [intentCrd(), kpiProfileCrd()];
}

/** The files of config/crd, by kubebuilder's name `<group>_<plural>.yaml`. */
export function plannerCrdFiles(): Map<string, string> {
  return new Map(
    plannerCrds().map((crd) => [
      `${crd.spec.group}_${crd.spec.names.plural}.yaml`,
      `---\n${stringify(crd, { lineWidth: 0 })}`,
    ]),
  );
}
