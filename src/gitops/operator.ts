import type { OperatorModule } from '../operator/module.js';
import { setupBundleControllers } from './o2ims/bundle-controller.js';
import { setupProvisioningController } from './o2ims/provisioning-controller.js';

/** The edge's controllers: bundles → ProvisioningRequests → workloads. */
export const gitopsOperatorModule: OperatorModule = {
  name: 'gitops',
  setup({ mgr }) {
    setupBundleControllers(mgr);
    setupProvisioningController(mgr);
  },
};
