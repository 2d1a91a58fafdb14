import { conductorOperatorModule } from '../conductor/operator.js';
import { gitopsOperatorModule } from '../gitops/operator.js';
import { hourglassOperatorModule } from '../hourglass/operator.js';
import { plannerOperatorModule } from '../planner/operator.js';
import type { OperatorModule } from './module.js';

/** Every module that runs controllers in `tutti operator`; each appends its own entry. */
export const operatorModules: OperatorModule[] = [
  gitopsOperatorModule,
  conductorOperatorModule,
  hourglassOperatorModule,
  plannerOperatorModule,
];
