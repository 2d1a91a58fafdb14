import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { bundleCrds } from '../apis/nephio/bundles.js';
import { provisioningRequestCrd } from '../apis/o2ims/provisioning-request.js';
import { gitSyncCrd } from '../apis/tutti/gitsync.js';
import { toYaml } from './render.js';

/** Every CRD the gitops module defines, each generated from its types in src/apis. */
export function gitopsCrds(): CustomResourceDefinition[] {
  return [...bundleCrds(), provisioningRequestCrd(), gitSyncCrd()];
}

/** kubebuilder's file name for a CRD: `<group>_<plural>.yaml`. */
export function crdFileName(crd: CustomResourceDefinition): string {
  return `${crd.spec.group}_${crd.spec.names.plural}.yaml`;
}

export function crdFiles(): Map<string, string> {
  return new Map(gitopsCrds().map((crd) => [crdFileName(crd), toYaml([crd])]));
}
