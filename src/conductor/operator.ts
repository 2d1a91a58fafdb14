import type { OptionSpec, OptionValues } from '../cli/command.js';
import { UsageError } from '../cli/command.js';
import type { OperatorModule } from '../operator/module.js';
import { type A1PathStyle, A1PolicyClient } from './a1.js';
import { A1PolicySync } from './a1-sync.js';
import { setupNetworkIntentController } from './controller.js';

/** conductor's flags on `tutti operator`. */
export const conductorOperatorOptions: Record<string, OptionSpec> = {
  'a1-endpoint': {
    type: 'string',
    description: "A1 mediator base URL; each NetworkIntent's policy is kept there (unset: no policies)",
    env: 'A1_MEDIATOR_URL',
  },
  'a1-path-style': {
    type: 'string',
    description: 'legacy: /A1-P/v2/policytypes/100/policies/{id}; standard: /v2/policies/{id}',
    default: 'legacy',
    env: 'A1_PATH_STYLE',
  },
  'intent-namespace': {
    type: 'string',
    description: 'reconcile NetworkIntents in this namespace only (default: all namespaces)',
    env: 'CONDUCTOR_INTENT_NAMESPACE',
  },
};

export interface ConductorOperatorSettings {
  a1?: { endpoint: string; pathStyle: A1PathStyle };
  namespace?: string;
}

/** Reads the module's settings from `tutti operator`'s parsed flags. */
export function conductorOperatorSettings(options: OptionValues = {}): ConductorOperatorSettings {
  const endpoint = (options['a1-endpoint'] as string | undefined) || undefined;
  const pathStyle = (options['a1-path-style'] as string | undefined) ?? 'legacy';
  if (pathStyle !== 'legacy' && pathStyle !== 'standard') {
    throw new UsageError(`--a1-path-style: "${pathStyle}" must be legacy or standard`);
  }
  const namespace = (options['intent-namespace'] as string | undefined) || undefined;
  return { ...(endpoint ? { a1: { endpoint, pathStyle } } : {}), ...(namespace ? { namespace } : {}) };
}

/** The NetworkIntent controller in `tutti operator --module conductor`. */
export const conductorOperatorModule: OperatorModule = {
  name: 'conductor',
  options: conductorOperatorOptions,
  setup({ mgr, options }) {
    const settings = conductorOperatorSettings(options);
    let a1: A1PolicySync | undefined;
    if (settings.a1) {
      try {
        a1 = new A1PolicySync(new A1PolicyClient(settings.a1));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    setupNetworkIntentController(mgr, { a1, namespace: settings.namespace });
    mgr.log.info(
      {
        a1Endpoint: settings.a1?.endpoint,
        a1PathStyle: settings.a1?.pathStyle,
        namespace: settings.namespace,
      },
      'conductor: NetworkIntent controller set up',
    );
  },
};
