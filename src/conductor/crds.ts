import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { stringify } from 'yaml';
import { networkIntentCrd } from '../apis/intent.nephoran.com/network-intent.js';

/** The CRDs the conductor module defines, generated from src/apis/intent.nephoran.com. */
export function conductorCrds(): CustomResourceDefinition[] {
  return [networkIntentCrd()];
}

/** kubebuilder's file name and YAML for each CRD (config/crd/<group>_<plural>.yaml). */
export function conductorCrdFiles(): Map<string, string> {
  return new Map(
    conductorCrds().map((crd) => [
      `${crd.spec.group}_${crd.spec.names.plural}.yaml`,
      stringify(crd, { lineWidth: 0 }),
    ]),
  );
}
