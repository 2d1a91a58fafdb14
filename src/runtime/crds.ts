import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from './client/client.js';
import { NotFoundError, TooManyRequestsError } from './client/errors.js';
import { CustomResourceDefinitions } from './client/kinds.js';
import { kind } from './client/types.js';
import { waitFor } from './wait.js';

/** The repository's CRD directory (kubebuilder layout). */
export const CRD_DIR = new URL('../../config/crd/', import.meta.url);

/** Reads every CustomResourceDefinition in the YAML files of `dir` (or the given files). */
export async function readCrds(pathOrFiles: string | readonly string[]): Promise<CustomResourceDefinition[]> {
  const files =
    typeof pathOrFiles === 'string'
      ? (await readdir(pathOrFiles))
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(pathOrFiles, f))
      : pathOrFiles;
  const crds: CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as CustomResourceDefinition | null;
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  return crds;
}

export interface InstallOptions {
  /** How long each CRD may take to be Established, then served (default 60 s). */
  readonly timeoutMs?: number;
  /** Calls the install off: it rejects with the signal's reason at once. */
  readonly signal?: AbortSignal;
}

/**
 * Applies CRDs with server-side apply and waits until each is Established (its API is served),
 * so that callers can create custom resources right after.
 */
export async function installCrds(
  client: KubeClient,
  crds: readonly CustomResourceDefinition[],
  opts: InstallOptions = {},
): Promise<void> {
  const { signal } = opts;
  // Its every request, an apply as much as a get, ends when the install is called off.
  const c = signal ? client.fencedBy(signal) : client;
  try {
    // Discovery is shared by every caller, so no fence cuts it off: it is awaited with the signal.
    await c.resourceInfo(CustomResourceDefinitions, signal);
    await Promise.all(crds.map((crd) => c.apply(crd)));
    await Promise.all(crds.map((crd) => established(c, crd, opts)));
    // New kinds must not be looked up in discovery documents cached before they existed.
    for (const crd of crds)
      for (const v of crd.spec.versions) c.discovery.invalidate(`${crd.spec.group}/${v.name}`);
    await Promise.all(crds.map((crd) => served(c, crd, opts)));
  } catch (err) {
    // A wait called off throws an AbortError of its own; callers look for the reason they gave.
    throw signal?.aborted ? signal.reason : err;
  }
}

/** Resolves once `crd` is Established; fails when its names are not accepted. */
async function established(
  client: KubeClient,
  crd: CustomResourceDefinition,
  opts: InstallOptions,
): Promise<void> {
  const conditions = await waitFor(
    async () => {
      const current = await client.get(CustomResourceDefinitions, crd.metadata!.name!);
      const conditions = current.status?.conditions ?? [];
      const settled = conditions.some(
        (c) =>
          (c.type === 'Established' && c.status === 'True') ||
          (c.type === 'NamesAccepted' && c.status === 'False'),
      );
      return settled && conditions;
    },
    {
      description: `CRD ${crd.metadata?.name} to be Established`,
      timeoutMs: opts.timeoutMs ?? 60_000,
      signal: opts.signal,
    },
  );
  // A name taken by another CRD is never accepted: no wait would end well.
  const refused = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
  if (refused)
    throw new Error(`CRD ${crd.metadata?.name}: names not accepted (${refused.reason}): ${refused.message}`);
}

/**
 * Resolves once `crd`'s kind is listed by discovery and can be listed. Established comes before
 * discovery lists the kind (a create meanwhile finds no resource for it: 404) and before the
 * storage is ready (a list or watch gets 429 "storage is (re)initializing").
 */
function served(client: KubeClient, crd: CustomResourceDefinition, opts: InstallOptions): Promise<boolean> {
  const { signal } = opts;
  const version = crd.spec.versions.find((v) => v.served) ?? crd.spec.versions[0]!;
  const k = kind(`${crd.spec.group}/${version.name}`, crd.spec.names.kind);
  return waitFor(
    async () => {
      await client.resourceInfo(k, signal);
      return client.list(k, { limit: 1 }).then(
        () => true,
        // Anything else (say, no right to list) is not this wait's business.
        (err: unknown) => !(err instanceof TooManyRequestsError || err instanceof NotFoundError),
      );
    },
    { description: `${crd.metadata?.name} to be served`, timeoutMs: opts.timeoutMs ?? 60_000, signal },
  );
}
