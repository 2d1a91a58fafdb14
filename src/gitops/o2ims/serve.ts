import type { Logger } from 'pino';
import { UsageError } from '../../cli/command.js';
import type { KubeClient } from '../../runtime/client/client.js';
import type { Runnable } from '../../runtime/manager.js';
import { INVENTORY_PREFIX, InventoryServer, MONITORING_PREFIX } from './inventory-server.js';
import { InventoryNotifier, SubscriptionStore } from './subscriptions.js';

export interface InventorySettings {
  port: number;
  host: string;
  name: string;
  notifyPeriodMs: number;
}

/**
 * Starts the O2IMS APIs and returns the notifier, which only the leader runs so that each change
 * is sent once; the server answers from here on, on every replica (reads need no leadership),
 * until `server.stop()`. Binding happens here, so a taken port fails the operator's start rather
 * than a log line later. Subscriptions are kept in `namespace`.
 */
export async function listenInventory(
  client: KubeClient,
  settings: InventorySettings & { namespace: string },
  log: Logger,
): Promise<{ port: number; server: InventoryServer; notifier: Runnable }> {
  const store = new SubscriptionStore(client, settings.namespace);
  const server = new InventoryServer(client, {
    name: settings.name,
    host: settings.host,
    subscriptions: store,
  });
  let port: number;
  try {
    port = await server.start(settings.port);
  } catch (err) {
    throw new UsageError(
      `O2IMS cannot listen on ${settings.host}:${settings.port}: ${(err as Error).message}`,
    );
  }
  log.info(
    { host: settings.host, port },
    `serving O2IMS on ${INVENTORY_PREFIX}/v1 and ${MONITORING_PREFIX}/v1`,
  );
  const notifier = new InventoryNotifier({ inventory: () => server.inventory(), store, log });
  return {
    port,
    server,
    notifier: {
      name: 'o2ims-notifier',
      start: (signal) => notifier.run(settings.notifyPeriodMs, signal),
    },
  };
}

/**
 * `listenInventory` for a process without a manager (`tutti gitops o2ims`): the server is stopped
 * by a runnable of its own, which runs whether or not the process leads, when its signal aborts.
 */
export async function startInventory(
  client: KubeClient,
  settings: InventorySettings & { namespace: string },
  log: Logger,
): Promise<{ port: number; server: InventoryServer; runnables: Runnable[] }> {
  const { port, server, notifier } = await listenInventory(client, settings, log);
  const runnables: Runnable[] = [
    {
      name: 'o2ims-server',
      needLeaderElection: false,
      async start(signal) {
        if (!signal.aborted)
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        await server.stop();
      },
    },
    notifier,
  ];
  return { port, server, runnables };
}
