import type { Condition } from 'kubernetes-types/meta/v1.js';
import {
  type ProvisioningRequest,
  ProvisioningRequests,
  type ProvisioningState,
} from '../../apis/o2ims/provisioning-request.js';
import type { KubeClient } from '../../runtime/client/client.js';
import { InvalidError, NotFoundError } from '../../runtime/client/errors.js';
import { Deployments, Services } from '../../runtime/client/kinds.js';
import { type Kind, kindOf } from '../../runtime/client/types.js';
import { setCondition } from '../../runtime/conditions.js';
import { OWNER_UID_INDEX } from '../../runtime/informer.js';
import type { Manager } from '../../runtime/manager.js';
import { addFinalizer, controllerRef, removeFinalizer, updateStatus } from '../../runtime/objects.js';
import { requeueAfter } from '../../runtime/reconcile.js';
import { metaTime } from '../../runtime/time.js';
import {
  findTemplate,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  renderWorkloads,
  TemplateError,
  validParameters,
  type Workload,
  workloadState,
} from './templates.js';

/** Holds a ProvisioningRequest until the workloads it created are gone. */
export const PROVISIONING_FINALIZER = 'o2ims.tutti.dev/workloads';
export const PROVISIONING_FIELD_MANAGER = 'tutti-o2ims';
/** Retry while the site namespace is missing (the sync may not have applied it yet). */
const MISSING_NAMESPACE_RETRY_MS = 5_000;

const WORKLOAD_KINDS: readonly Kind<Workload>[] = [Deployments, Services] as Kind<Workload>[];

interface Outcome {
  state: ProvisioningState;
  details: string;
  conditions: { type: string; status: 'True' | 'False' | 'Unknown'; reason: string }[];
  resources?: { namespace: string; resources: string[] };
}

/**
 * Fulfils O2IMS ProvisioningRequests: renders the template the request names with its
 * parameters, applies the workloads (owned by the request), and reports `provisioningStatus`:
 * progressing until every workload is Ready, then fulfilled; failed with the reason when the
 * template or parameters are bad or a workload fails. Deleting a request deletes its workloads.
 */
export function setupProvisioningController(mgr: Manager): void {
  const selector = { labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}` };
  const workloads = WORKLOAD_KINDS.map((k) => mgr.informer(k, selector));
  const controller = mgr.controller('provisioningrequest').for(ProvisioningRequests);
  for (const k of WORKLOAD_KINDS) controller.owns(k, selector);
  controller.reconcile(async (req, ctx) => {
    const pr = controller.cache<ProvisioningRequest>().get(req.key);
    if (!pr) return;
    const client = ctx.client.withFieldManager(PROVISIONING_FIELD_MANAGER);
    const owned = () => workloads.flatMap((inf) => inf.byIndex(OWNER_UID_INDEX, pr.metadata.uid!));

    if (pr.metadata.deletionTimestamp) {
      const left = owned();
      if (left.length) {
        await report(client, pr, {
          state: 'deleting',
          details: `deleting ${left.length} workloads`,
          conditions: [],
        });
        for (const w of left) await client.delete(kindOf(w), w.metadata!.name!, w.metadata!.namespace);
        return; // their delete events bring the request back
      }
      await removeFinalizer(client, ProvisioningRequests, pr, PROVISIONING_FINALIZER);
      return;
    }
    const current = await addFinalizer(client, ProvisioningRequests, pr, PROVISIONING_FINALIZER);

    let desired: Workload[];
    try {
      const template = findTemplate(pr.spec.templateName, pr.spec.templateVersion);
      desired = renderWorkloads(template, validParameters(pr.spec.templateParameters));
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      await report(client, current, {
        state: 'failed',
        details: err.message,
        conditions: [{ type: 'Validated', status: 'False', reason: err.reason }],
      });
      return;
    }

    const validated = { type: 'Validated', status: 'True', reason: 'TemplateRendered' } as const;
    const namespace = desired[0]?.metadata?.namespace ?? '';
    const resources = desired.map((w) => `${w.kind}/${w.metadata!.name}`);
    const live: Workload[] = [];
    for (const w of desired) {
      w.metadata!.ownerReferences = [controllerRef(current)];
      try {
        live.push(await client.apply(w));
      } catch (err) {
        if (err instanceof NotFoundError) {
          await report(client, current, {
            state: 'progressing',
            details: `waiting for namespace ${namespace}: ${err.message}`,
            conditions: [validated, { type: 'Provisioned', status: 'False', reason: 'NamespaceMissing' }],
            resources: { namespace, resources },
          });
          return requeueAfter(MISSING_NAMESPACE_RETRY_MS);
        }
        if (err instanceof InvalidError) {
          await report(client, current, {
            state: 'failed',
            details: `${w.kind} ${namespace}/${w.metadata!.name}: ${err.message}`,
            conditions: [validated, { type: 'Provisioned', status: 'False', reason: 'WorkloadRejected' }],
            resources: { namespace, resources },
          });
          return;
        }
        throw err;
      }
    }
    // Members removed from the request take their workloads with them.
    const keep = new Set(desired.map((w) => `${w.kind}/${w.metadata!.namespace}/${w.metadata!.name}`));
    for (const w of owned()) {
      if (!keep.has(`${w.kind}/${w.metadata!.namespace}/${w.metadata!.name}`))
        await client.delete(kindOf(w), w.metadata!.name!, w.metadata!.namespace);
    }

    const states = live.map(workloadState);
    const failed = states.flatMap((s) => (!s.ready && s.failed ? [s.failed] : []));
    const waiting = states.flatMap((s) => (!s.ready && !s.failed ? [s.waiting] : []));
    const outcome: Outcome = failed.length
      ? {
          state: 'failed',
          details: failed.join('; '),
          conditions: [validated, { type: 'Provisioned', status: 'False', reason: 'WorkloadFailed' }],
        }
      : waiting.length
        ? {
            state: 'progressing',
            details: waiting.join('; '),
            conditions: [validated, { type: 'Provisioned', status: 'False', reason: 'WorkloadsProgressing' }],
          }
        : {
            state: 'fulfilled',
            details: `${live.length === 1 ? 'one object' : `${live.length} objects`} ready in namespace ${namespace} (${[...new Set(live.map((w) => w.kind))].join(', ')})`,
            conditions: [validated, { type: 'Provisioned', status: 'True', reason: 'WorkloadsReady' }],
          };
    await report(client, current, { ...outcome, resources: { namespace, resources } });
  });
}

/** Writes status when it changed; updateTime moves only when state or details do. */
async function report(client: KubeClient, pr: ProvisioningRequest, o: Outcome): Promise<void> {
  await updateStatus(client, ProvisioningRequests, pr.metadata.name!, undefined, (cur) => {
    const before = JSON.stringify(cur.status ?? {});
    cur.status ??= {};
    const status = cur.status;
    const ps = status.provisioningStatus ?? {};
    const moved = ps.provisioningState !== o.state || ps.provisioningDetails !== o.details;
    let conditions: Condition[] | undefined = status.conditions;
    for (const c of o.conditions)
      conditions = setCondition(conditions, { ...c, observedGeneration: cur.metadata.generation });
    status.conditions = conditions ?? [];
    status.observedGeneration = cur.metadata.generation;
    status.provisioningStatus = {
      provisioningState: o.state,
      provisioningDetails: o.details,
      ...(o.resources
        ? { provisionedResourceSet: o.resources }
        : ps.provisionedResourceSet
          ? { provisionedResourceSet: ps.provisionedResourceSet }
          : {}),
      updateTime: moved || !ps.updateTime ? metaTime(new Date()) : ps.updateTime,
    };
    return JSON.stringify(status) !== before;
  });
}
