import type { OptionSpec, OptionValues } from '../cli/command.js';
import { parseDuration, parseInteger, UsageError } from '../cli/command.js';
import type { OperatorModule } from '../operator/module.js';
import { setupBundleControllers } from './o2ims/bundle-controller.js';
import { setupProvisioningController } from './o2ims/provisioning-controller.js';
import { type InventorySettings, listenInventory } from './o2ims/serve.js';

/** gitops's flags on `tutti operator`. */
export const gitopsOperatorOptions: Record<string, OptionSpec> = {
  'o2ims-port': {
    type: 'string',
    description:
      'serve the O2IMS inventory, subscription and monitoring APIs on this port (unset: not served)',
    env: 'O2IMS_PORT',
  },
  'o2ims-host': {
    type: 'string',
    description: 'address the O2IMS APIs listen on',
    default: '0.0.0.0',
    env: 'O2IMS_HOST',
  },
  'o2ims-name': { type: 'string', description: 'the O-Cloud name', default: 'edge1', env: 'O2IMS_NAME' },
  'o2ims-notify-period': {
    type: 'string',
    description: 'how often inventory changes are looked for and sent to subscribers',
    default: '10s',
    env: 'O2IMS_NOTIFY_PERIOD',
  },
};

/** The O2IMS server's settings from `tutti operator`'s flags, or undefined when it is off. */
export function inventorySettings(options: OptionValues = {}): InventorySettings | undefined {
  const port = (options['o2ims-port'] as string | undefined) || undefined;
  if (port === undefined) return undefined;
  const name = ((options['o2ims-name'] as string | undefined) ?? 'edge1').trim();
  if (!name) throw new UsageError('--o2ims-name: must not be empty');
  return {
    port: parseInteger(port, 'o2ims-port', 0, 65535),
    host: (options['o2ims-host'] as string | undefined) ?? '0.0.0.0',
    name,
    notifyPeriodMs: parseDuration(
      (options['o2ims-notify-period'] as string | undefined) ?? '10s',
      'o2ims-notify-period',
    ),
  };
}

/** The edge's controllers (bundles → ProvisioningRequests → workloads) and, when asked, O2IMS. */
export const gitopsOperatorModule: OperatorModule = {
  name: 'gitops',
  options: gitopsOperatorOptions,
  async setup({ mgr, options, systemNamespace }) {
    const inventory = inventorySettings(options);
    setupBundleControllers(mgr);
    setupProvisioningController(mgr);
    if (!inventory) return;
    const o2ims = await listenInventory(mgr.client, { ...inventory, namespace: systemNamespace }, mgr.log);
    // Listening from here: stopped when the manager stops, also when it never gets to run.
    mgr.onStop('o2ims-server', () => o2ims.server.stop());
    mgr.add(o2ims.notifier);
  },
};
