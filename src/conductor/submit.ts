import { setTimeout as delay } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { type NetworkIntent, NetworkIntents } from '../apis/intent.nephoran.com/network-intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import {
  AlreadyExistsError,
  ApiError,
  ForbiddenError,
  isRetryable,
  NotFoundError,
  type StatusBody,
  TooManyRequestsError,
  UnauthorizedError,
} from '../runtime/client/errors.js';
import { KubeconfigError } from '../runtime/client/kubeconfig.js';

/** The seed's retry count for a retryable failure, before the intent waits for the next period. */
export const SUBMIT_RETRIES = 3;
/** First backoff; doubles per retry (200 ms, 400 ms, 800 ms). */
export const SUBMIT_BACKOFF_MS = 200;

export type SubmitResult =
  | { outcome: 'created' | 'exists'; name: string; namespace: string }
  /**
   * Worth another try later (network, 429, 5xx, no namespace or CRD yet, credentials refused or
   * not obtained): the intent stays queued. `credentials` when the loop's own credentials failed.
   */
  | { outcome: 'retry'; reason: string; message: string; credentials?: boolean }
  /** Final (Forbidden, Invalid, a different object under the name): an error file is written. */
  | { outcome: 'failed'; reason: string; message: string; status?: StatusBody; forbidden?: ForbiddenDetails };

export interface ForbiddenDetails {
  verb: string;
  resource: string;
  group: string;
  namespace: string;
  identity: string;
}

/**
 * Creates a NetworkIntent. AlreadyExists with the same spec is success (the name is derived from
 * the content, so that is a resubmission); retryable errors are retried with exponential backoff.
 */
export async function submitNetworkIntent(
  client: KubeClient,
  ni: NetworkIntent,
  opts: { retries?: number; backoffMs?: number; signal?: AbortSignal } = {},
): Promise<SubmitResult> {
  const name = ni.metadata!.name!;
  const namespace = ni.metadata!.namespace!;
  const retries = opts.retries ?? SUBMIT_RETRIES;
  const { signal } = opts;
  for (let attempt = 0; ; attempt++) {
    // Stopped (the shutdown deadline passed): no new request, the intent stays queued.
    if (signal?.aborted) return stopped(ni);
    try {
      await client.createOnly(ni, { signal });
      return { outcome: 'created', name, namespace };
    } catch (err) {
      // A request cut off by the stop may or may not have created the object: the next start
      // submits the intent again and meets AlreadyExists if it did.
      if (signal?.aborted) return stopped(ni);
      if (err instanceof AlreadyExistsError) {
        const met = await sameSpecOrFailure(client, ni, signal);
        if (met) return met;
        // Deleted between our create and our read: create it again, as one more try.
        if (attempt >= retries) {
          return {
            outcome: 'retry',
            reason: 'NotFound',
            message: `NetworkIntent ${namespace}/${name} was deleted while it was submitted`,
          };
        }
        continue;
      }
      // Nothing is wrong with the intent: what it needs is not there yet. Quick retries cannot help.
      if (err instanceof NotFoundError) return missingPrerequisite(err, ni);
      const credentials = credentialFailure(err);
      if (!credentials && !isRetryable(err)) return finalFailure(err, ni);
      if (attempt >= retries) {
        return credentials ?? { outcome: 'retry', reason: reasonOf(err), message: (err as Error).message };
      }
      const wait =
        err instanceof TooManyRequestsError && err.retryAfterSeconds
          ? err.retryAfterSeconds * 1000
          : (opts.backoffMs ?? SUBMIT_BACKOFF_MS) * 2 ** attempt;
      await delay(wait, undefined, { signal }).catch(() => {});
    }
  }
}

/** What an AlreadyExists means; undefined when the object is gone by the time it is read. */
async function sameSpecOrFailure(
  client: KubeClient,
  ni: NetworkIntent,
  signal: AbortSignal | undefined,
): Promise<SubmitResult | undefined> {
  const name = ni.metadata!.name!;
  const namespace = ni.metadata!.namespace!;
  try {
    const existing = await client.get(NetworkIntents, name, namespace, { signal });
    // One being deleted (held by a finalizer) is about to vanish: counting it as this intent's
    // would record the file as processed with no NetworkIntent left. Its successor is made once it is gone.
    if (existing.metadata?.deletionTimestamp) {
      return {
        outcome: 'retry',
        reason: 'Terminating',
        message: `NetworkIntent ${namespace}/${name} is being deleted; the intent is created anew once it is gone`,
      };
    }
    if (isDeepStrictEqual(existing.spec, ni.spec)) return { outcome: 'exists', name, namespace };
    return {
      outcome: 'failed',
      reason: 'AlreadyExists',
      message: `NetworkIntent ${namespace}/${name} already exists with a different spec`,
    };
  } catch (err) {
    if (signal?.aborted) return stopped(ni);
    if (err instanceof NotFoundError) return undefined;
    const credentials = credentialFailure(err);
    if (credentials) return credentials;
    if (isRetryable(err)) return { outcome: 'retry', reason: reasonOf(err), message: (err as Error).message };
    return finalFailure(err, ni);
  }
}

/**
 * The loop's own credentials failed: refused (401: a token expired or revoked, the cluster's token
 * webhook or IAM down) or not obtained (an exec credential plugin or a token file failing at
 * request time). Nothing is wrong with the intent file: it stays queued, as in an outage.
 */
function credentialFailure(err: unknown): SubmitResult | undefined {
  if (err instanceof UnauthorizedError) {
    return {
      outcome: 'retry',
      reason: 'Unauthorized',
      credentials: true,
      message: `the API server refused conductor-loop's credentials (401 Unauthorized: ${err.message}); check the kubeconfig's user — its token or certificate may have expired or been revoked, or the cluster's authentication (token webhook, IAM) is down; the intent is retried until they are accepted`,
    };
  }
  if (err instanceof KubeconfigError) {
    return {
      outcome: 'retry',
      reason: 'CredentialsUnavailable',
      credentials: true,
      message: `conductor-loop cannot get its credentials: ${err.message}; the intent is retried until it can`,
    };
  }
  return undefined;
}

/** The stop's deadline passed before the intent was submitted: left for the next start. */
function stopped(ni: NetworkIntent): SubmitResult {
  const { name, namespace } = ni.metadata!;
  return {
    outcome: 'retry',
    reason: 'Stopped',
    message: `stopped before NetworkIntent ${namespace}/${name} was created; the next start submits it`,
  };
}

/**
 * A create answered NotFound: the namespace does not exist, or the API server does not serve
 * NetworkIntents (the CRD is not installed). Either can be put right without touching the file,
 * so the intent waits for it instead of being recorded as failed.
 */
function missingPrerequisite(err: NotFoundError, ni: NetworkIntent): SubmitResult {
  const namespace = ni.metadata!.namespace!;
  const message =
    err.status.details?.kind === 'namespaces'
      ? `namespace ${namespace} does not exist (create it; the intent is retried until then)`
      : `the API server does not serve NetworkIntents: ${err.message} (install the CRD with \`tutti conductor crds | kubectl apply -f -\`; the intent is retried until then)`;
  return { outcome: 'retry', reason: 'NotFound', message };
}

function finalFailure(err: unknown, ni: NetworkIntent): SubmitResult {
  if (!(err instanceof ApiError)) {
    return { outcome: 'failed', reason: 'Unknown', message: (err as Error).message };
  }
  const result: SubmitResult = {
    outcome: 'failed',
    reason: reasonOf(err),
    message: `failed to create NetworkIntent CR: ${err.message}`,
    status: err.status,
  };
  if (err instanceof ForbiddenError) {
    result.forbidden = {
      verb: err.request.method === 'POST' ? 'create' : 'get',
      resource: 'networkintents',
      group: 'intent.nephoran.com',
      namespace: ni.metadata!.namespace!,
      identity: /User "([^"]+)"/.exec(err.message)?.[1] ?? 'unknown',
    };
  }
  return result;
}

function reasonOf(err: unknown): string {
  if (err instanceof ApiError) return err.reason || `HTTP${err.code}`;
  return 'Unknown';
}
