import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../src/runtime/client/client.js';
import type { KubeObject } from '../../src/runtime/client/types.js';

/** Applies k8s/rbac/k8s.yaml moved to `namespace` (the sandbox pods need ci-fixer-sandbox). */
export async function applyRbacTo(client: KubeClient, namespace: string): Promise<void> {
  const text = await readFile(join(import.meta.dirname, '../../k8s/rbac/k8s.yaml'), 'utf8');
  for (const doc of parseAllDocuments(text.replaceAll('namespace: default', `namespace: ${namespace}`))) {
    await client.apply(doc.toJS() as KubeObject);
  }
}
