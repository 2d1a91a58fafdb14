import { isDeepStrictEqual } from 'node:util';
import { BUNDLE_KINDS, type Bundle, bundleKindFor } from '../../apis/nephio/bundles.js';
import type { KubeClient } from '../../runtime/client/client.js';
import { kind } from '../../runtime/client/types.js';
import type { IntentExpectation } from '../expectation.js';
import { REASON_FAILED } from '../o2ims/bundle-controller.js';
import { expectationBundle, LABEL_INTENT, RENDER_NAMESPACE } from '../render.js';
import type { LifecycleStatus } from './intent.js';

export interface EdgeReport {
  status: Extract<LifecycleStatus, 'inProgress' | 'fulfilled' | 'failed'>;
  message: string;
}

/**
 * What the edge says about one intent: its bundles (read through a kubeconfig for the edge) and
 * their Ready conditions, which the edge's bundle controller keeps from the ProvisioningRequests.
 * Only a bundle whose spec is what `expectations` render to counts: one of the same name left from
 * other content (the intent withdrawn and posted again, or its ConfigMap edited, before the edge
 * synced) says nothing about this content. Every bundle Ready → fulfilled; any ProvisioningFailed →
 * failed; otherwise in progress.
 */
export async function edgeReport(
  edge: KubeClient,
  intentId: string,
  expectations: readonly IntentExpectation[],
): Promise<EdgeReport> {
  const live = new Map<string, Bundle>();
  for (const info of BUNDLE_KINDS) {
    const list = await edge.list(kind<Bundle>(`${info.group}/v1alpha1`, info.kind), {
      namespace: RENDER_NAMESPACE,
      labelSelector: `${LABEL_INTENT}=${intentId}`,
    });
    for (const b of list.items) live.set(`${info.kind}/${b.metadata.name}`, b);
  }
  let ready = 0;
  const waiting: string[] = [];
  for (const e of expectations) {
    const info = bundleKindFor(e.intentExpectationType);
    const name = `${info.namePrefix}-${e.intentExpectationId}`;
    const b = live.get(`${info.kind}/${name}`);
    if (b && !isDeepStrictEqual(b.spec, expectationBundle(e).spec)) {
      waiting.push(`${info.kind} ${name} on the edge still holds other content than this intent's`);
      continue;
    }
    const c = b?.status?.conditions?.find((x) => x.type === 'Ready');
    const current = c && c.observedGeneration === b?.metadata.generation;
    if (current && c.reason === REASON_FAILED)
      return { status: 'failed', message: `${info.kind} ${name}: ${c.message}` };
    if (current && c.status === 'True') ready++;
    else
      waiting.push(
        b
          ? `${info.kind} ${name}: ${c?.message ?? 'not processed yet'}`
          : `${info.kind} ${name} not on the edge yet`,
      );
  }
  const total = expectations.length;
  if (ready === total)
    return { status: 'fulfilled', message: `${total} of ${total} bundles Ready on the edge` };
  return { status: 'inProgress', message: `${ready} of ${total} bundles Ready; ${waiting.join('; ')}` };
}
