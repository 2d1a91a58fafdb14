import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { stringify } from 'yaml';
import { performerCrd } from '../apis/hourglass.eigenlayer.io/performer.js';

/** Every CRD the hourglass module defines, generated from its types in src/apis. */
export function hourglassCrds(): CustomResourceDefinition[] {
  return [performerCrd()];
}

/** The files of config/crd, by kubebuilder's name `<group>_<plural>.yaml`. */
export function hourglassCrdFiles(): Map<string, string> {
  return new Map(
    hourglassCrds().map((crd) => [
      `${crd.spec.group}_${crd.spec.names.plural}.yaml`,
      `---\n${stringify(crd, { lineWidth: 0 })}`,
    ]),
  );
}
