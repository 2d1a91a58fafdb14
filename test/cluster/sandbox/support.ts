import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { SelfSubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { Namespaces } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { waitFor } from '../../../src/runtime/wait.js';
import type { RunEvent } from '../../../src/sandbox/service/runs.js';
import { CiFixerService, type CiFixerServiceOptions } from '../../../src/sandbox/service/server.js';
import { testClient, testNamespace } from '../../support/cluster.js';

export const RBAC_MANIFEST = join(import.meta.dirname, '../../../k8s/rbac/k8s.yaml');

/** The objects of k8s/rbac/k8s.yaml, moved to `namespace` (as `kubectl apply -n` would need). */
export async function rbacObjects(namespace: string): Promise<KubeObject[]> {
  const { readFile } = await import('node:fs/promises');
  const docs = parseAllDocuments(await readFile(RBAC_MANIFEST, 'utf8')).map((d) => d.toJS() as KubeObject);
  return JSON.parse(JSON.stringify(docs).replaceAll('"namespace":"default"', `"namespace":"${namespace}"`));
}

export async function applyRbac(client: KubeClient, namespace: string): Promise<void> {
  for (const obj of await rbacObjects(namespace)) await client.apply(obj);
}

/** A client speaking as the ci-fixer-app ServiceAccount, so tests prove the Role is enough. */
export function asApp(client: KubeClient, namespace: string): KubeClient {
  return client.impersonating({
    user: `system:serviceaccount:${namespace}:ci-fixer-app`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  });
}

/**
 * A namespace enforcing the restricted Pod Security profile, with the seed's RBAC applied;
 * returns it with a client acting as ci-fixer-app.
 */
export async function sandboxNamespace(
  t: TestContext,
  client: KubeClient,
): Promise<{ ns: string; app: KubeClient }> {
  const ns = await testNamespace(t, client, 'sb');
  await client.patch(Namespaces, ns, undefined, {
    metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  });
  await applyRbac(client, ns);
  const app = asApp(client, ns);
  // RBAC is served from an informer cache: wait until the new RoleBinding is in force.
  await waitFor(
    async () => {
      const review = await app.create<SelfSubjectAccessReview>({
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace: ns, group: 'batch', resource: 'jobs', verb: 'create' } },
      });
      return review.status?.allowed === true;
    },
    { description: `ci-fixer-app to be allowed to create jobs in ${ns}`, timeoutMs: 15_000 },
  );
  return { ns, app };
}

/** A scratch directory standing in for the sandbox's /workspace (kwok's exec runs on this machine). */
export function workdir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sandbox-work-'));
}

/**
 * A shell script printing `line 1` … `line 3`, each only after the file `ack-<n>` appears in `dir`
 * (which the test writes once it has received that line), so it can only finish if every line was
 * delivered while it still ran. It gives up (exit 9) after about a minute.
 */
export function ackedLinesScript(dir: string): string {
  return (
    `for n in 1 2 3; do echo "line $n"; i=0; ` +
    `while [ ! -f "${dir}/ack-$n" ]; do i=$((i+1)); [ $i -gt 1200 ] && { echo "line $n never acknowledged" >&2; exit 9; }; sleep 0.05; done; ` +
    'done'
  );
}

/** Reads a run's server-sent events until the stream ends, telling `onEvent` of each on arrival. */
export async function runEvents(
  base: string,
  id: string,
  onEvent?: (e: RunEvent) => void,
): Promise<RunEvent[]> {
  const res = await fetch(`${base}/api/runs/${id}/events`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const out: RunEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
      const data = buffer
        .slice(0, i)
        .split('\n')
        .find((l) => l.startsWith('data: '));
      if (data) {
        const event = JSON.parse(data.slice(6)) as RunEvent;
        out.push(event);
        onEvent?.(event);
      }
      buffer = buffer.slice(i + 2);
    }
  }
  return out;
}

/**
 * Reads a run's server-sent events with their ids, sending `headers` (Last-Event-ID, say), until
 * `stop` returns true for one (the connection is then dropped) or the stream ends.
 */
export async function eventsWithIds(
  base: string,
  id: string,
  headers: Record<string, string> = {},
  stop: (e: RunEvent) => boolean = () => false,
): Promise<{ id: string; event: RunEvent }[]> {
  const abort = new AbortController();
  const res = await fetch(`${base}/api/runs/${id}/events`, { headers, signal: abort.signal });
  if (res.status !== 200) assert.fail(`events of ${id}: ${res.status} ${await res.text()}`);
  const got: { id: string; event: RunEvent }[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
        const fields = new Map(
          buffer
            .slice(0, i)
            .split('\n')
            .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)] as const),
        );
        buffer = buffer.slice(i + 2);
        const data = fields.get('data');
        if (data === undefined) continue;
        const event = JSON.parse(data) as RunEvent;
        got.push({ id: fields.get('id') ?? '', event });
        if (stop(event)) {
          abort.abort();
          return got;
        }
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  return got;
}

/**
 * A ci-fixer service on a sandbox namespace of its own, stopped after the test. `beforeStop` runs
 * first: stop() waits for the runs under way, so a test whose command waits on something releases
 * it there.
 */
export async function startService(
  t: TestContext,
  extra: Partial<CiFixerServiceOptions> = {},
  beforeStop?: (workdir: string) => Promise<void>,
): Promise<{
  base: string;
  ns: string;
  service: CiFixerService;
  client: KubeClient;
  workdir: string;
}> {
  // Closed after the service stopped: stop() waits for runs to tear their sandboxes down.
  const client = await testClient(undefined);
  const { ns, app } = await sandboxNamespace(t, client);
  const dir = await workdir();
  const service = new CiFixerService({
    client: app,
    namespace: ns,
    port: 0,
    host: '127.0.0.1',
    workdir: dir,
    ...extra,
  });
  const port = await service.start();
  t.after(async () => {
    await beforeStop?.(dir);
    await service.stop();
    client.close();
  });
  return { base: `http://127.0.0.1:${port}`, ns, service, client, workdir: dir };
}
