import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_KINDS, type Bundle } from '../apis/nephio/bundles.js';
import { type ProvisioningRequest, ProvisioningRequests } from '../apis/o2ims/provisioning-request.js';
import { LocalControlPlane } from '../cluster/control-plane.js';
import { KubeClient } from '../runtime/client/client.js';
import { Namespaces, Nodes } from '../runtime/client/kinds.js';
import { kind } from '../runtime/client/types.js';
import { installCrds } from '../runtime/crds.js';
import { Manager } from '../runtime/manager.js';
import { waitFor } from '../runtime/wait.js';
import { gitopsCrds } from './crds.js';
import { GitHttpServer } from './git-http-server.js';
import { setupBundleControllers } from './o2ims/bundle-controller.js';
import { setupProvisioningController } from './o2ims/provisioning-controller.js';
import { LABEL_INTENT, RENDER_NAMESPACE, toYaml } from './render.js';
import { EdgeSyncer } from './sync.js';
import { INTENT_PATH, type IntentResource } from './tmf921/intent.js';
import { IntentServer } from './tmf921/server.js';
import { IntentService } from './tmf921/service.js';
import { IntentStore } from './tmf921/store.js';

/**
 * The seed's WF-D runner: a TMF921 intent goes in on the SMO and must come out as Ready bundles and
 * fulfilled ProvisioningRequests on the edge, then be pruned when withdrawn. `fake` runs the edge on
 * a local control plane with simulated (kwok) nodes; `real` uses the cluster `--kubeconfig` names
 * as the edge. The SMO is always a local control plane; the git server is git's http-backend.
 */

export type E2eMode = 'fake' | 'real';

export interface E2eOptions {
  readonly modes: readonly E2eMode[];
  /** The edge for `real`. */
  readonly kubeconfig?: string;
  /** The context of `kubeconfig` to use for `real`. */
  readonly context?: string;
  /** Base name of the local planes: `<name>-smo`, `<name>-edge`. */
  readonly name: string;
  readonly artifactsRoot: string;
  readonly periodMs: number;
  readonly timeoutMs: number;
  readonly say?: (line: string) => void;
}

interface Check {
  mode: E2eMode;
  name: string;
  ok: boolean;
  detail: string;
  seconds: number;
}

export interface E2eResult {
  readonly dir: string;
  readonly checks: readonly Check[];
  readonly ok: boolean;
}

/** The intent WF-D posts: one requirement per bundle kind. */
export function sampleIntent(id: string): Record<string, unknown> {
  return {
    id,
    name: 'WF-D 5G network',
    '@type': 'Intent',
    expression: {
      '@type': 'JsonLdExpression',
      expressionLanguage: 'JSON-LD',
      expressionValue: {
        intent: '5G network',
        requirements: { latency: '<1ms', userThroughput: '>100Mbps', availability: '>99.99%' },
      },
    },
  };
}

function timestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export async function runWfdE2e(opts: E2eOptions): Promise<E2eResult> {
  const say = opts.say ?? (() => {});
  const dir = join(opts.artifactsRoot, `wf-d-e2e-${timestamp()}`);
  await mkdir(dir, { recursive: true });
  const checks: Check[] = [];
  const planes: LocalControlPlane[] = [];
  const up = async (name: string) => {
    const plane = new LocalControlPlane(name);
    planes.push(plane);
    say(`starting control plane ${name}`);
    return plane.up();
  };
  try {
    const smoKubeconfig = await up(`${opts.name}-smo`);
    for (const mode of opts.modes) {
      const edgeKubeconfig = mode === 'fake' ? await up(`${opts.name}-edge`) : opts.kubeconfig;
      if (!edgeKubeconfig) throw new Error('--mode real needs --kubeconfig naming the edge cluster');
      checks.push(...(await runOne(mode, smoKubeconfig, edgeKubeconfig, dir, opts, say)));
    }
  } finally {
    for (const p of planes.reverse()) await p.down().catch(() => {});
  }
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  await writeFile(join(dir, 'test-report.md'), report(opts, checks, ok));
  return { dir, checks, ok };
}

async function runOne(
  mode: E2eMode,
  smoKubeconfig: string,
  edgeKubeconfig: string,
  dir: string,
  opts: E2eOptions,
  say: (line: string) => void,
): Promise<Check[]> {
  const checks: Check[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    const started = Date.now();
    say(`[${mode}] ${name}`);
    try {
      const detail = await fn();
      checks.push({ mode, name, ok: true, detail, seconds: (Date.now() - started) / 1000 });
      return true;
    } catch (err) {
      checks.push({
        mode,
        name,
        ok: false,
        detail: (err as Error).message,
        seconds: (Date.now() - started) / 1000,
      });
      return false;
    }
  };
  const root = await mkdtemp(join(tmpdir(), 'tutti-wf-d-'));
  cleanup.push(() => rm(root, { recursive: true, force: true }));
  try {
    const smo = await KubeClient.load(smoKubeconfig, { fieldManager: 'tutti-gitops' });
    const edge = await KubeClient.load(edgeKubeconfig, {
      fieldManager: 'tutti-gitsync',
      context: mode === 'real' ? opts.context : undefined,
    });
    cleanup.push(async () => {
      smo.close();
      edge.close();
    });
    const credentials = { username: 'admin1', password: randomBytes(12).toString('hex') };
    const git = new GitHttpServer({ root: join(root, 'repos'), ...credentials });
    await git.start(0);
    cleanup.push(() => git.stop());
    const repo = await git.createRepository('admin1/edge1-config');
    const id = `wfd-${mode}-${randomBytes(3).toString('hex')}`;

    await installCrds(edge, gitopsCrds());
    // The edge's controllers, here only for this run's intent, so a shared cluster's other bundles are left alone.
    const mgr = new Manager({ client: edge, name: `wf-d-${mode}` });
    setupBundleControllers(mgr, { labelSelector: `${LABEL_INTENT}=${id}` });
    setupProvisioningController(mgr);
    await mgr.start();
    cleanup.push(() => mgr.stop());
    const syncName = `edge1-sync-${id}`;
    const syncer = new EdgeSyncer(edge, {
      name: syncName,
      repo,
      branch: 'main',
      dir: '/',
      periodMs: opts.periodMs,
      credentials,
      cacheDir: join(root, 'cache'),
    });
    const stopSync = new AbortController();
    const loop = syncer.run(stopSync.signal);
    cleanup.push(async () => {
      stopSync.abort();
      await loop;
    });

    await smo.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tutti-system' } });
    const service = new IntentService({
      store: new IntentStore(smo, 'tutti-system'),
      edge,
      publish: { repo, credentials },
    });
    const server = new IntentServer(service);
    const port = await server.start(0);
    cleanup.push(async () => {
      await server.stop();
      await service.close();
    });
    const url = `http://127.0.0.1:${port}${INTENT_PATH}`;

    await check('POST a TMF921 intent: 201 acknowledged', async () => {
      const res = await fetch(url, { method: 'POST', body: JSON.stringify(sampleIntent(id)) });
      const body = (await res.json()) as IntentResource;
      if (res.status !== 201 || body.lifecycleStatus !== 'acknowledged')
        throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
      return `intent ${id}`;
    });
    await check('intent lifecycleStatus reaches fulfilled', async () => {
      const r = await waitFor(
        async () => {
          const x = (await (await fetch(`${url}/${id}`)).json()) as IntentResource;
          if (x.lifecycleStatus === 'failed') throw new Error(JSON.stringify(x.characteristic));
          return x.lifecycleStatus === 'fulfilled' && x;
        },
        { description: `intent ${id} to be fulfilled`, timeoutMs: opts.timeoutMs },
      );
      return String(r.characteristic.find((c) => c.name === 'statusMessage')?.value);
    });
    const bundles = await listBundles(edge, id);
    await check('3 bundles Ready on the edge', async () => {
      const ready = bundles.filter((b) =>
        b.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (ready.length !== 3) throw new Error(`${ready.length} of ${bundles.length} bundles Ready`);
      return ready.map((b) => `${b.kind}/${b.metadata.name}`).join(', ');
    });
    const prs = (await edge.list(ProvisioningRequests)).items.filter(
      (p) => p.metadata.labels?.[LABEL_INTENT] === id,
    );
    await check('3 ProvisioningRequests fulfilled', async () => {
      const done = prs.filter((p) => p.status?.provisioningStatus?.provisioningState === 'fulfilled');
      if (done.length !== 3) throw new Error(`${done.length} of ${prs.length} fulfilled`);
      return done.map((p) => p.metadata.name).join(', ');
    });
    for (const p of prs) await writeFile(join(dir, `pr-${mode}-${p.metadata.name}.yaml`), toYaml([clean(p)]));
    await writeFile(join(dir, `${mode}-nodes.txt`), await nodesTable(edge));
    await writeFile(
      join(dir, `${mode}-namespaces.txt`),
      `${(await edge.list(Namespaces)).items.map((n) => `${n.metadata!.name}\t${n.status?.phase}`).join('\n')}\n`,
    );
    await check('DELETE the intent: bundles and requests pruned from the edge', async () => {
      const res = await fetch(`${url}/${id}`, { method: 'DELETE' });
      if (res.status !== 204) throw new Error(`HTTP ${res.status}`);
      await waitFor(
        async () =>
          (await listBundles(edge, id)).length === 0 &&
          !(await edge.list(ProvisioningRequests)).items.some(
            (p) => p.metadata.labels?.[LABEL_INTENT] === id,
          ),
        { description: `the objects of intent ${id} to leave the edge`, timeoutMs: opts.timeoutMs },
      );
      return 'pruned';
    });
    cleanup.push(() => edge.delete(kind('tutti.dev/v1alpha1', 'GitSync'), syncName));
  } catch (err) {
    checks.push({ mode, name: 'set up', ok: false, detail: (err as Error).message, seconds: 0 });
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  }
  return checks;
}

async function listBundles(edge: KubeClient, id: string): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const info of BUNDLE_KINDS) {
    const list = await edge.list(kind<Bundle>(`${info.group}/v1alpha1`, info.kind), {
      namespace: RENDER_NAMESPACE,
      labelSelector: `${LABEL_INTENT}=${id}`,
    });
    out.push(...list.items.map((b) => ({ ...b, kind: info.kind }) as Bundle));
  }
  return out;
}

function clean(p: ProvisioningRequest): ProvisioningRequest {
  const { managedFields: _, ...metadata } = p.metadata;
  return { ...p, metadata };
}

async function nodesTable(edge: KubeClient): Promise<string> {
  const rows = (await edge.list(Nodes)).items.map((n) => {
    const ready =
      n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
    const l = n.metadata?.labels ?? {};
    return [
      n.metadata!.name,
      ready,
      l['topology.kubernetes.io/zone'] ?? '',
      n.status?.nodeInfo?.kubeletVersion ?? '',
    ].join('\t');
  });
  return `${['NAME', 'STATUS', 'ZONE', 'VERSION'].join('\t')}\n${rows.join('\n')}\n`;
}

function report(opts: E2eOptions, checks: readonly Check[], ok: boolean): string {
  const lines = [
    '# WF-D end-to-end report',
    '',
    `- result: **${ok ? 'PASS' : 'FAIL'}** (${checks.filter((c) => c.ok).length}/${checks.length} checks)`,
    `- modes: ${opts.modes.join(', ')}`,
    `- sync period: ${opts.periodMs / 1000}s`,
    '- fake: the edge is a local control plane with simulated (kwok) nodes; real: the edge is the cluster --kubeconfig names',
    '',
    '| mode | check | result | seconds | detail |',
    '| ---- | ----- | ------ | ------- | ------ |',
    ...checks.map(
      (c) =>
        `| ${c.mode} | ${c.name} | ${c.ok ? 'pass' : 'FAIL'} | ${c.seconds.toFixed(1)} | ${c.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
