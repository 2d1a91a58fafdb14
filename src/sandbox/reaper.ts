/**
 * Deletes sandbox Jobs (and, through the garbage collector, their Pods) for a process that exited
 * without tearing its sandboxes down. Started detached by exit-teardown.ts with the Jobs as JSON.
 */
import { KubeClient } from '../runtime/client/client.js';
import type { ConnectionOrigin } from '../runtime/client/connection.js';
import { Jobs } from '../runtime/client/kinds.js';

interface JobRef extends ConnectionOrigin {
  name: string;
  namespace: string;
}

const jobs = JSON.parse(process.argv[2] ?? '[]') as JobRef[];
const clients = new Map<string, KubeClient>();
for (const job of jobs) {
  const key = `${job.kubeconfig ?? ''}\n${job.context ?? ''}`;
  let client = clients.get(key);
  if (!client) {
    client = await KubeClient.load(job.kubeconfig, {
      fieldManager: 'ci-fixer-sandbox',
      context: job.context,
    });
    clients.set(key, client);
  }
  await client.delete(Jobs, job.name, job.namespace, { propagationPolicy: 'Background' }).catch(() => {});
}
for (const client of clients.values()) client.close();
