import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from './client/client.js';
import { NotFoundError, TooManyRequestsError } from './client/errors.js';
import { CustomResourceDefinitions } from './client/kinds.js';
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

/**
 * Applies CRDs with server-side apply and waits until each is Established (its API is served),
 * so that callers can create custom resources right after.
 */
export async function installCrds(
  client: KubeClient,
  crds: readonly CustomResourceDefinition[],
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  await Promise.all(crds.map((crd) => client.apply(crd)));
  await Promise.all(
    crds.map(async (crd) => {
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
        { description: `CRD ${crd.metadata?.name} to be Established`, timeoutMs: opts.timeoutMs ?? 60_000 },
      );
      // A name taken by another CRD is never accepted: no wait would end well.
      const refused = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
      if (refused)
        throw new Error(
          `CRD ${crd.metadata?.name}: names not accepted (${refused.reason}): ${refused.message}`,
        );
    }),
  );
  // New kinds must not be looked up in discovery documents cached before they existed.
  for (const crd of crds)
    for (const v of crd.spec.versions) client.discovery.invalidate(`${crd.spec.group}/${v.name}`);
  // Established comes before discovery lists the kind (a create meanwhile finds no resource for
  // it: 404) and before the storage is ready (a list or watch gets 429 "storage is
  // (re)initializing").
  await Promise.all(
    crds.map((crd) => {
      const served = crd.spec.versions.find((v) => v.served) ?? crd.spec.versions[0]!;
      const apiVersion = `${crd.spec.group}/${served.name}`;
      const path = `/apis/${apiVersion}/${crd.spec.names.plural}`;
      return waitFor(
        async () => {
          await client.discovery.resolve(apiVersion, crd.spec.names.kind);
          return client.raw(path, { limit: '1' }).then(
            () => true,
            // Anything else (say, no right to list) is not this wait's business.
            (err: unknown) => !(err instanceof TooManyRequestsError || err instanceof NotFoundError),
          );
        },
        { description: `${crd.metadata?.name} to be served`, timeoutMs: opts.timeoutMs ?? 60_000 },
      );
    }),
  );
}
