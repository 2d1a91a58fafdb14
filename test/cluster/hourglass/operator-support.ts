import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { type Performer, Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { setupPerformerController } from '../../../src/hourglass/controller.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { ForbiddenError } from '../../../src/runtime/client/errors.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { releaseFinalizersAtEnd, testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';

export const REVISION = 'hourglass.eigenlayer.io/revision';
const TUTTI = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));

export async function setup(t: TestContext, prefix: string, fieldManager = 'hourglass-operator-test') {
  const client = await testClient(t, fieldManager);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, prefix);
  releaseFinalizersAtEnd(t, client, Performers, ns);
  return { client, ns };
}

export function performer(ns: string, name: string, spec: Partial<Performer['spec']> = {}): Performer {
  return {
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name, namespace: ns },
    spec: { avsAddress: '0xAVS', image: 'ghcr.io/acme/perf', version: 'v1', ...spec },
  };
}

export const isReady = (p: Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

export interface OperatorProcess {
  child: ChildProcess;
  healthPort: number;
  /** Resolves once the process has exited. */
  exited: Promise<unknown>;
}

/**
 * `tutti hourglass-operator` as a process, watching one namespace so it leaves the other tests'
 * Performers alone, and leasing there unless told another; resolves once it logs that it runs,
 * with its health port.
 */
export async function startOperator(
  t: TestContext,
  ns: string,
  flags: string[] = [],
  leaseNamespace = ns,
): Promise<OperatorProcess> {
  const child = spawn(
    process.execPath,
    [
      TUTTI,
      'hourglass-operator',
      `--kubeconfig=${testKubeconfig()}`,
      '--health-port=0',
      `--leader-election-namespace=${leaseNamespace}`,
      `--watch-namespace=${ns}`,
      ...flags,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TUTTI_LOG_LEVEL: 'info' } },
  );
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const lines = createInterface({ input: child.stderr! });
  const running = new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; healthPort?: number };
        if (entry.msg === 'operator running' && entry.healthPort) resolve(entry.healthPort);
      } catch {
        // not a log line
      }
    });
  });
  const healthPort = await Promise.race([
    running,
    exited.then(([code]) => {
      throw new Error(`hourglass-operator exited with ${code} before it ran`);
    }),
  ]);
  return { child, healthPort, exited };
}

/** A metric's value on a process's /metrics, 0 when absent. */
export async function metric(port: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * The Performer controller in a Manager of the test's own, scoped to the test's namespace, on a
 * client of its own: the test's client closes first, while the manager still drains.
 */
export async function startController(t: TestContext, ns: string): Promise<void> {
  const client = await KubeClient.load(testKubeconfig(), { fieldManager: 'tutti-operator' });
  const mgr = new Manager({ client, name: `hourglass-${ns}` });
  setupPerformerController(mgr, { namespace: ns });
  t.after(async () => {
    await mgr.stop();
    client.close();
  });
  await mgr.start();
}

/**
 * `client` speaking as ServiceAccount `name` of `ns`, once `binding` lets it list Performers there:
 * RBAC is served from a cache, so the first allowed call may come a moment after the binding.
 */
export async function asServiceAccount(
  client: KubeClient,
  ns: string,
  name: string,
  binding = "the executor's RoleBinding",
): Promise<KubeClient> {
  const as = client.impersonating({
    user: `system:serviceaccount:${ns}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`],
  });
  await waitFor(
    () =>
      as
        .list(Performers, { namespace: ns })
        .catch((e: unknown) => (e instanceof ForbiddenError ? undefined : Promise.reject(e))),
    { description: `${binding} to take effect`, timeoutMs: 15_000 },
  );
  return as;
}

/**
 * The names of the Performers in `ns` not being deleted. Where no operator runs to remove the
 * finalizer the executor creates Performers with, a deleted Performer stays, Terminating.
 */
export async function livePerformers(client: KubeClient, ns: string): Promise<string[]> {
  const all = (await client.list(Performers, { namespace: ns })).items;
  return all.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);
}
