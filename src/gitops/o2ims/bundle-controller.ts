import {
  BUNDLE_KINDS,
  type Bundle,
  type BundleKindInfo,
  type BundleStatus,
} from '../../apis/nephio/bundles.js';
import { type ProvisioningRequest, ProvisioningRequests } from '../../apis/o2ims/provisioning-request.js';
import { type Kind, kind } from '../../runtime/client/types.js';
import { setCondition } from '../../runtime/conditions.js';
import type { Manager } from '../../runtime/manager.js';
import { addFinalizer, removeFinalizer, updateStatus } from '../../runtime/objects.js';
import { boundedName } from './names.js';
import { TEMPLATE_VERSION, type TemplateParameters } from './templates.js';

/** Holds a bundle until its ProvisioningRequest is gone (a cluster-scoped request cannot be owned by it). */
export const BUNDLE_FINALIZER = 'o2ims.tutti.dev/provisioning-request';
/** On a ProvisioningRequest: `<Kind>/<namespace>/<name>` of the bundle it fulfils. */
export const ANNOTATION_BUNDLE = 'o2ims.tutti.dev/bundle';
export const LABEL_BUNDLE_KIND = 'o2ims.tutti.dev/bundle-kind';
export const BUNDLE_FIELD_MANAGER = 'tutti-bundles';

/** Ready condition reasons; `Ready` is what `kubectl get cnbundles` shows, as in the seed. */
export const REASON_READY = 'Ready';
export const REASON_PROVISIONING = 'Provisioning';
export const REASON_FAILED = 'ProvisioningFailed';
export const REASON_DELETING = 'Deleting';

/** The request's name: `<namespace>.<bundle name>`, unique across namespaces and kinds. */
export function provisioningRequestName(bundle: Bundle): string {
  return boundedName(`${bundle.metadata.namespace}.${bundle.metadata.name}`, 253);
}

/** The request a bundle asks for: its kind's template, its spec as parameters. */
export function desiredRequest(
  info: BundleKindInfo,
  bundle: Bundle,
  siteNamespace?: string,
): ProvisioningRequest {
  const spec = bundle.spec as unknown as Record<string, unknown>;
  const parameters: TemplateParameters = {
    expectationId: bundle.spec.expectationId,
    objectInstance: bundle.spec.objectInstance,
    members: [...((spec[info.members] as string[] | undefined) ?? [])],
    targets: { ...((spec[info.section] as TemplateParameters['targets'] | undefined) ?? {}) },
    ...(siteNamespace ? { namespace: siteNamespace } : {}),
  };
  return {
    apiVersion: 'o2ims.provisioning.oran.org/v1alpha1',
    kind: 'ProvisioningRequest',
    metadata: {
      name: provisioningRequestName(bundle),
      labels: {
        [LABEL_BUNDLE_KIND]: info.kind,
        ...Object.fromEntries(
          Object.entries(bundle.metadata.labels ?? {}).filter(
            ([k]) => k.startsWith('expectation.nephio.org/') || k.startsWith('intent.tutti.dev/'),
          ),
        ),
      },
      annotations: {
        [ANNOTATION_BUNDLE]: `${info.kind}/${bundle.metadata.namespace}/${bundle.metadata.name}`,
      },
    },
    spec: {
      name: bundle.metadata.name,
      description: `${bundle.spec.expectationType} expectation ${bundle.spec.expectationId} on ${bundle.spec.objectInstance}`,
      templateName: info.namePrefix,
      templateVersion: TEMPLATE_VERSION,
      templateParameters: parameters as unknown as Record<string, unknown>,
    },
  };
}

/** The bundle's Ready condition, read from its request's status. */
export function readiness(bundle: Bundle, pr: ProvisioningRequest | undefined) {
  const generation = bundle.metadata.generation;
  if (!pr)
    return {
      status: 'False',
      reason: REASON_PROVISIONING,
      message: 'creating the ProvisioningRequest',
      observedGeneration: generation,
    } as const;
  const ps = pr.status?.provisioningStatus;
  const current = pr.status?.observedGeneration === pr.metadata.generation;
  const message = `ProvisioningRequest ${pr.metadata.name}: ${ps?.provisioningDetails ?? 'not processed yet'}`;
  if (current && ps?.provisioningState === 'fulfilled')
    return { status: 'True', reason: REASON_READY, message, observedGeneration: generation } as const;
  if (current && ps?.provisioningState === 'failed')
    return { status: 'False', reason: REASON_FAILED, message, observedGeneration: generation } as const;
  return { status: 'False', reason: REASON_PROVISIONING, message, observedGeneration: generation } as const;
}

export interface BundleControllerOptions {
  /** Watch bundles in this namespace only (default: all). */
  readonly namespace?: string;
  /** Watch only bundles with these labels, e.g. to shard bundles between edges. */
  readonly labelSelector?: string;
  /** Where the requests' workloads go (default: the template's, `edge1`). */
  readonly siteNamespace?: string;
}

/**
 * One controller per bundle kind: each bundle gets one O2IMS ProvisioningRequest, kept equal to
 * the bundle's spec, and the request's state comes back as the bundle's Ready condition.
 * Deleting the bundle deletes the request (and so its workloads) before the bundle goes.
 */
export function setupBundleControllers(mgr: Manager, opts: BundleControllerOptions = {}): void {
  for (const info of BUNDLE_KINDS) {
    const bundles = kind<Bundle>(`${info.group}/v1alpha1`, info.kind) as Kind<Bundle>;
    const requests = mgr.informer(ProvisioningRequests);
    const controller = mgr
      .controller(info.kind.toLowerCase())
      .for(bundles, { namespace: opts.namespace, labelSelector: opts.labelSelector })
      .watches(ProvisioningRequests, (pr) => {
        const [k, ns, name] = (pr.metadata?.annotations?.[ANNOTATION_BUNDLE] ?? '').split('/');
        return k === info.kind && ns && name ? [`${ns}/${name}`] : [];
      })
      .reconcile(async (req, ctx) => {
        const bundle = controller.cache<Bundle>().get(req.key);
        if (!bundle) return;
        const client = ctx.client.withFieldManager(BUNDLE_FIELD_MANAGER);
        const prName = provisioningRequestName(bundle);

        if (bundle.metadata.deletionTimestamp) {
          if (requests.get(prName) || (await client.find(ProvisioningRequests, prName))) {
            await setReady(bundle, {
              status: 'False',
              reason: REASON_DELETING,
              message: `deleting ProvisioningRequest ${prName}`,
            });
            await client.delete(ProvisioningRequests, prName);
            return; // the request's delete event brings the bundle back
          }
          await removeFinalizer(client, bundles, bundle, BUNDLE_FINALIZER);
          return;
        }
        const current = await addFinalizer(client, bundles, bundle, BUNDLE_FINALIZER);
        const existing = requests.get(prName);
        const owner = existing?.metadata.annotations?.[ANNOTATION_BUNDLE];
        const self = `${info.kind}/${bundle.metadata.namespace}/${bundle.metadata.name}`;
        if (existing && owner !== self) {
          await setReady(current, {
            status: 'False',
            reason: REASON_FAILED,
            message: `ProvisioningRequest ${prName} already exists for ${owner ?? 'something else'}`,
          });
          return;
        }
        const pr = await client.apply(desiredRequest(info, current, opts.siteNamespace));
        await setReady(current, readiness(current, pr));

        async function setReady(
          b: Bundle,
          ready: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string },
        ): Promise<void> {
          await updateStatus(client, bundles, b.metadata.name!, b.metadata.namespace, (cur) => {
            const before = JSON.stringify(cur.status ?? {});
            cur.status ??= {};
            const status: BundleStatus = cur.status;
            status.observedGeneration = cur.metadata.generation;
            status.provisioningRequest = prName;
            status.conditions = setCondition(status.conditions, {
              type: 'Ready',
              ...ready,
              observedGeneration: cur.metadata.generation,
            });
            return JSON.stringify(status) !== before;
          });
        }
      });
  }
}
