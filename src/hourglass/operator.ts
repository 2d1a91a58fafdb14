import type { OperatorModule } from '../operator/module.js';
import { setupPerformerController } from './controller.js';

/** Hourglass in `tutti operator` and `tutti hourglass-operator`: the Performer controller. */
export const hourglassOperatorModule: OperatorModule = {
  name: 'hourglass',
  setup({ mgr }) {
    setupPerformerController(mgr);
  },
};
