import type { TestContext } from 'node:test';
import { BUNDLE_KINDS } from '../../../src/apis/nephio/bundles.js';
import { ProvisioningRequests } from '../../../src/apis/o2ims/provisioning-request.js';
import {
  type BundleControllerOptions,
  setupBundleControllers,
} from '../../../src/gitops/o2ims/bundle-controller.js';
import { setupProvisioningController } from '../../../src/gitops/o2ims/provisioning-controller.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { kind } from '../../../src/runtime/client/types.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';

/**
 * The edge's bundle and provisioning controllers for one test. At the end, the test's bundles and
 * requests are deleted while the controllers still run, so their finalizers are released.
 */
export async function startEdgeControllers(
  t: TestContext,
  client: KubeClient,
  opts: BundleControllerOptions & { namespace: string; requests?: () => string[] },
): Promise<Manager> {
  const mgr = new Manager({ client, name: `gitops-edge-${opts.namespace}` });
  setupBundleControllers(mgr, opts);
  setupProvisioningController(mgr);
  await mgr.start();
  t.after(async () => {
    const kinds = BUNDLE_KINDS.map((b) => kind(`${b.group}/v1alpha1`, b.kind));
    for (const k of kinds)
      await client
        .deleteCollection(k, { namespace: opts.namespace, labelSelector: opts.labelSelector })
        .catch(() => {});
    for (const name of opts.requests?.() ?? [])
      await client.delete(ProvisioningRequests, name).catch(() => {});
    await waitFor(
      async () => {
        for (const k of kinds)
          if (
            (await client.list(k, { namespace: opts.namespace, labelSelector: opts.labelSelector })).items
              .length
          )
            return false;
        for (const name of opts.requests?.() ?? [])
          if (await client.find(ProvisioningRequests, name)) return false;
        return true;
      },
      { description: `the bundles in ${opts.namespace} and their requests to be deleted`, timeoutMs: 60_000 },
    ).finally(() => mgr.stop());
  });
  return mgr;
}

/** A TMF921 Intent as a client posts it, its requirements in a JSON-LD expression. */
export function tmf921Intent(id: string, requirements: Record<string, string>) {
  return {
    id,
    name: 'Stadium 5G',
    '@type': 'Intent',
    expression: {
      '@type': 'JsonLdExpression',
      expressionLanguage: 'JSON-LD',
      expressionValue: { requirements },
    },
  };
}
