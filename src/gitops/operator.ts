import type { Logger } from 'pino';
import type { OptionSpec, OptionValues } from '../cli/command.js';
import { parseInteger, UsageError } from '../cli/command.js';
import type { OperatorModule } from '../operator/module.js';
import type { KubeClient } from '../runtime/client/client.js';
import type { Runnable } from '../runtime/manager.js';
import { setupBundleControllers } from './o2ims/bundle-controller.js';
import { INVENTORY_PREFIX, InventoryServer, MONITORING_PREFIX } from './o2ims/inventory-server.js';
import { setupProvisioningController } from './o2ims/provisioning-controller.js';

/** gitops's flags on `tutti operator`. */
export const gitopsOperatorOptions: Record<string, OptionSpec> = {
  'o2ims-port': {
    type: 'string',
    description: 'serve the O2IMS inventory and monitoring read APIs on this port (unset: not served)',
    env: 'O2IMS_PORT',
  },
  'o2ims-host': {
    type: 'string',
    description: 'address the O2IMS APIs listen on',
    default: '0.0.0.0',
    env: 'O2IMS_HOST',
  },
  'o2ims-name': { type: 'string', description: 'the O-Cloud name', default: 'edge1', env: 'O2IMS_NAME' },
};

export interface InventorySettings {
  port: number;
  host: string;
  name: string;
}

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
  };
}

/**
 * Starts the O2IMS read APIs and returns the runnable that stops them with the manager. Binding
 * happens here, so a taken port fails the operator's start rather than a log line later. Every
 * replica serves them (they only read the cluster), so they need no leadership.
 */
export async function startInventory(
  client: KubeClient,
  settings: InventorySettings,
  log: Logger,
): Promise<{ port: number; runnable: Runnable }> {
  const server = new InventoryServer(client, { name: settings.name, host: settings.host });
  let port: number;
  try {
    port = await server.start(settings.port);
  } catch (err) {
    throw new UsageError(`--o2ims-port ${settings.port}: ${(err as Error).message}`);
  }
  log.info(
    { host: settings.host, port },
    `serving O2IMS on ${INVENTORY_PREFIX}/v1 and ${MONITORING_PREFIX}/v1`,
  );
  const runnable: Runnable = {
    name: 'o2ims-inventory',
    needLeaderElection: false,
    async start(signal) {
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await server.stop();
    },
  };
  return { port, runnable };
}

/** The edge's controllers (bundles → ProvisioningRequests → workloads) and, when asked, O2IMS. */
export const gitopsOperatorModule: OperatorModule = {
  name: 'gitops',
  options: gitopsOperatorOptions,
  async setup({ mgr, options }) {
    const inventory = inventorySettings(options);
    setupBundleControllers(mgr);
    setupProvisioningController(mgr);
    if (inventory) mgr.add((await startInventory(mgr.client, inventory, mgr.log)).runnable);
  },
};
