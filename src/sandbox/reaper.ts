/**
 * Deletes sandbox Jobs (and, through the garbage collector, their Pods) for a process that exited
 * without tearing its sandboxes down. Started detached by exit-teardown.ts with the Jobs as JSON.
 */
import { KubeClient } from '../runtime/client/client.js';
import { Jobs } from '../runtime/client/kinds.js';

interface JobRef {
  name: string;
  namespace: string;
  kubeconfig?: string;
}

const jobs = JSON.parse(process.argv[2] ?? '[]') as JobRef[];
const clients = new Map<string, KubeClient>();
for (const job of jobs) {
  const key = job.kubeconfig ?? '';
  let client = clients.get(key);
  if (!client) {
    client = await KubeClient.load(job.kubeconfig, { fieldManager: 'ci-fixer-sandbox' });
    clients.set(key, client);
  }
  await client.delete(Jobs, job.name, job.namespace, { propagationPolicy: 'Background' }).catch(() => {});
}
for (const client of clients.values()) client.close();
