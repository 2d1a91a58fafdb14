import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { bundleCrds } from '../apis/nephio/bundles.js';
import { provisioningRequestCrd } from '../apis/o2ims/provisioning-request.js';
import { gitSyncCrd } from '../apis/tutti/gitsync.js';

/** Every CRD the gitops module defines, each generated from its types in src/apis. */
export function gitopsCrds(): CustomResourceDefinition[] {
  return [...bundleCrds(), provisioningRequestCrd(), gitSyncCrd()];
}
