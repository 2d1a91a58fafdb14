import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitSyncCrd } from '../apis/tutti/gitsync.js';
import { type Command, contextFlag, parseDuration, parseInteger, UsageError } from '../cli/command.js';
import { crdsCommand } from '../cli/crds-command.js';
import { KubeClient } from '../runtime/client/client.js';
import { installCrds } from '../runtime/crds.js';
import { HealthServer } from '../runtime/health-server.js';
import { componentLogger } from '../runtime/log.js';
import { conformOffline, conformWithServer, describeObject, scanTree, type Violation } from './conform.js';
import { gitopsCrds } from './crds.js';
import { type E2eMode, runWfdE2e } from './e2e.js';
import { fluxSync, rootSync } from './engines.js';
import type { IntentExpectation } from './expectation.js';
import { redact } from './git.js';
import { readExpectations } from './input.js';
import { runFunctionProcess } from './kpt-fn.js';
import { DEFAULT_INVENTORY_PORT, INVENTORY_PREFIX, MONITORING_PREFIX } from './o2ims/inventory-server.js';
import { startInventory } from './o2ims/serve.js';
import { DEFAULT_BRANCH, publishTree } from './publish.js';
import { renderTree, toYaml } from './render.js';
import { EdgeSyncer } from './sync.js';
import { INTENT_PATH } from './tmf921/intent.js';
import { DEFAULT_INTENT_PORT, IntentServer } from './tmf921/server.js';
import { IntentService } from './tmf921/service.js';
import { IntentStore } from './tmf921/store.js';
import { writeTree } from './tree.js';

const FIELD_MANAGER = 'tutti-gitops';

async function inputs(o: Record<string, unknown>, positionals: string[]): Promise<IntentExpectation[]> {
  const files = [...((o['filename'] as string[] | undefined) ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('give at least one intent or expectations file with -f');
  const all: IntentExpectation[] = [];
  for (const f of files) {
    try {
      all.push(...(await readExpectations(f)));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return all;
}

/** Git remote flags shared by publish and sync; credentials come from the environment. */
export const gitFlags = {
  repo: { type: 'string', description: 'git repository URL (HTTP or HTTPS)', env: 'TUTTI_GIT_REPO' },
  branch: { type: 'string', description: 'branch', default: DEFAULT_BRANCH },
  username: { type: 'string', description: 'git username', env: 'TUTTI_GIT_USERNAME' },
  password: {
    type: 'string',
    description: 'git password or token (prefer the environment)',
    env: 'TUTTI_GIT_PASSWORD',
  },
} as const;

/** `--repo` for the commands that speak git themselves: over HTTP(S), where credentials go as a header. */
function httpRepo(o: Record<string, unknown>): string {
  const repo = o['repo'] as string | undefined;
  if (!repo) throw new UsageError('--repo is required (or TUTTI_GIT_REPO)');
  const protocol = URL.canParse(repo) ? new URL(repo).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new UsageError(
      `--repo: "${redact(repo)}" is not an HTTP(S) URL; git is spoken over HTTP(S) (https://git.example.com/org/repo.git)`,
    );
  return repo;
}

export function gitCredentials(o: Record<string, unknown>) {
  return o['username'] || o['password']
    ? { username: o['username'] as string | undefined, password: o['password'] as string | undefined }
    : undefined;
}

const filename = {
  type: 'string',
  short: 'f',
  multiple: true,
  description: 'a JSON or YAML file: a TMF921 Intent, the short form, a list of them, or 28.312 expectations',
} as const;

function printViolations(violations: readonly Violation[]): void {
  for (const v of violations) console.error(`${v.object}: ${v.field}: ${v.message}`);
}

export const gitopsCommands: Command[] = [
  {
    name: 'gitops translate',
    summary:
      'Translate TMF921 intents (or the short form) into 3GPP TS 28.312 IntentExpectations, printed as JSON.',
    usage: 'gitops translate -f <intent.json>...',
    options: { filename },
    allowPositionals: true,
    async run(o, positionals) {
      console.log(JSON.stringify(await inputs(o, positionals), null, 2));
      return 0;
    },
  },
  {
    name: 'gitops render',
    summary:
      'Render intents or expectations into the edge repository layout: apps/intent/{cn_capacity,' +
      'ran_performance,tn_coverage}.yaml, crds/{bundles,namespaces}.yaml and kustomization.yaml.',
    usage: 'gitops render -f <intent.json>... [--out <dir>]',
    options: {
      filename,
      out: {
        type: 'string',
        short: 'o',
        description: 'directory to write the tree into',
        default: 'dist/edge1',
      },
    },
    allowPositionals: true,
    async run(o, positionals) {
      const tree = renderTree(await inputs(o, positionals));
      for (const path of await writeTree(o['out'] as string, tree))
        console.log(join(o['out'] as string, path));
      return 0;
    },
  },
  {
    name: 'gitops publish',
    summary:
      'Render intents or expectations and commit and push the tree to a git repository over HTTP(S). ' +
      'Makes no commit when nothing changed; the commit message lists the expectation ids.',
    usage: 'gitops publish -f <intent.json>... --repo <url>',
    options: { filename, ...gitFlags },
    allowPositionals: true,
    async run(o, positionals) {
      const repo = httpRepo(o);
      const expectations = await inputs(o, positionals);
      const result = await publishTree(
        renderTree(expectations),
        expectations.map((e) => e.intentExpectationId),
        { repo, branch: o['branch'] as string, credentials: gitCredentials(o) },
      );
      console.log(result.changed ? `pushed ${result.commit}` : `unchanged at ${result.commit}`);
      return 0;
    },
  },
  {
    name: 'gitops conform',
    summary:
      'Validate every object of a rendered tree: offline against the CRD schemas in the tree, and with ' +
      'server-side dry-run when --kubeconfig is given. Exits 1 when any object fails.',
    usage: 'gitops conform <dir> [--kubeconfig <path> [--context <name>]]',
    options: {
      kubeconfig: { type: 'string', description: 'also dry-run every object against this cluster' },
      context: contextFlag,
    },
    allowPositionals: true,
    async run(o, positionals) {
      if (positionals.length !== 1)
        throw new UsageError('give the rendered directory, e.g. tutti gitops conform dist/edge1');
      if (o['context'] && !o['kubeconfig'])
        throw new UsageError('--context picks a context of --kubeconfig: give both');
      const { objects, unreadable } = await scanTree(positionals[0]!);
      if (objects.length === 0 && unreadable.length === 0)
        throw new UsageError(`${positionals[0]}: no YAML objects found`);
      // With a cluster, kinds the tree does not define are the API server's to judge.
      const offline = conformOffline(objects, { cluster: Boolean(o['kubeconfig']) });
      const violations = [...unreadable, ...offline];
      let offlineOnly: string[] = [];
      if (o['kubeconfig']) {
        // Every other object still meets the server: one bad object must not hide the rest's problems.
        const failed = new Set(offline.map((v) => v.object));
        const skip = new Set(objects.filter((s) => failed.has(describeObject(s))));
        const client = await KubeClient.load(o['kubeconfig'] as string, {
          fieldManager: FIELD_MANAGER,
          context: o['context'] as string | undefined,
        });
        try {
          const server = await conformWithServer(client, objects, { skip });
          violations.push(...server.problems);
          offlineOnly = server.offlineOnly;
        } finally {
          client.close();
        }
      }
      printViolations(violations);
      if (offlineOnly.length)
        console.log(
          `${offlineOnly.length} objects checked offline only: their Namespace or CRD comes with the tree and is not on the cluster yet`,
        );
      console.log(`${objects.length} objects, ${violations.length} problems`);
      return violations.length ? 1 : 0;
    },
  },
  {
    name: 'gitops fn',
    summary:
      'The kpt function: read a ResourceList on stdin, render every ConfigMap holding intent.json or ' +
      'expectation.json into its expectation ConfigMap and bundle, write the ResourceList on stdout with ' +
      'results (severity, message, field) for bad input. Use: kpt fn eval --exec "tutti gitops fn".',
    run: () => runFunctionProcess(process.stdin, process.stdout),
  },
  {
    name: 'gitops sync',
    summary:
      'On the edge: pull a git repository every --period, apply it with server-side apply, prune what left it ' +
      '(only objects this sync applied), and report commit, time, objects and errors on a GitSync resource ' +
      '(tutti.dev) and as metrics.',
    usage: 'gitops sync --repo <url> [--period 30s]',
    options: {
      ...gitFlags,
      name: { type: 'string', description: 'name of the GitSync resource', default: 'edge1-sync' },
      dir: { type: 'string', description: 'directory of the repository to apply', default: '/' },
      period: { type: 'string', description: 'time between pulls', default: '30s' },
      kubeconfig: {
        type: 'string',
        description: 'kubeconfig of the edge cluster (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
      },
      context: contextFlag,
      'cache-dir': {
        type: 'string',
        description: 'where the repository is checked out (default: a temp dir)',
      },
      'health-port': {
        type: 'string',
        description: 'port for /healthz, /readyz and /metrics (0: off)',
        default: '0',
      },
      once: { type: 'boolean', description: 'sync once and exit (1 when it failed)', default: false },
    },
    async run(o) {
      const repo = httpRepo(o);
      const periodMs = parseDuration(o['period'] as string, 'period');
      if (periodMs < 1000) throw new UsageError('--period must be at least 1s');
      const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
        fieldManager: 'tutti-gitsync',
        context: o['context'] as string | undefined,
      });
      await installCrds(client, [gitSyncCrd()]);
      const name = o['name'] as string;
      const syncer = new EdgeSyncer(client, {
        name,
        repo,
        branch: o['branch'] as string,
        dir: o['dir'] as string,
        periodMs,
        credentials: gitCredentials(o),
        cacheDir: (o['cache-dir'] as string | undefined) ?? join(tmpdir(), `tutti-gitsync-${name}`),
        log: componentLogger('gitsync', { sync: name }),
      });
      if (o['once']) {
        await syncer.register();
        const outcome = await syncer.syncOnce();
        client.close();
        return outcome.errors.length ? 1 : 0;
      }
      const port = parseInteger(o['health-port'] as string, 'health-port', 0, 65535);
      const health = port ? new HealthServer({ port }) : undefined;
      await health?.start();
      const stop = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
      await syncer.run(stop.signal);
      await health?.stop();
      client.close();
      return 0;
    },
  },
  {
    name: 'gitops manifests',
    summary:
      'Print the manifests that make a real GitOps engine pull the repository instead of tutti gitops sync: ' +
      'a Config Sync RootSync (--engine configsync) or a Flux GitRepository and Kustomization (--engine flux).',
    options: {
      engine: { type: 'string', description: 'configsync or flux', default: 'configsync' },
      repo: gitFlags.repo,
      branch: gitFlags.branch,
      name: { type: 'string', description: 'name of the sync objects', default: 'edge1-sync' },
      dir: { type: 'string', description: 'directory of the repository to apply', default: '/' },
      period: { type: 'string', description: 'time between pulls', default: '30s' },
      'secret-name': { type: 'string', description: 'Secret with the repository credentials' },
    },
    run(o) {
      if (!o['repo']) throw new UsageError('--repo is required (or TUTTI_GIT_REPO)');
      parseDuration(o['period'] as string, 'period');
      const opts = {
        name: o['name'] as string,
        repo: o['repo'] as string,
        branch: o['branch'] as string,
        dir: o['dir'] as string,
        period: o['period'] as string,
        secretName: o['secret-name'] as string | undefined,
      };
      if (o['engine'] === 'configsync') console.log(toYaml([rootSync(opts)]));
      else if (o['engine'] === 'flux') console.log(toYaml(fluxSync(opts)));
      else throw new UsageError(`--engine: "${String(o['engine'])}" is not configsync or flux`);
      return 0;
    },
  },
  {
    name: 'gitops serve',
    summary:
      `On the SMO: the TMF921 Intent Management API (${INTENT_PATH}: POST, GET, GET /{id}, DELETE /{id}). ` +
      'Each intent is translated, stored on the SMO cluster, rendered with every other stored intent and pushed ' +
      "to --repo; its lifecycleStatus (acknowledged, inProgress, fulfilled, failed) follows the edge's bundles, " +
      'read through --edge-kubeconfig.',
    options: {
      ...gitFlags,
      kubeconfig: {
        type: 'string',
        description:
          'kubeconfig of the SMO cluster, which stores the intents (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
      },
      context: contextFlag,
      namespace: {
        type: 'string',
        description: 'namespace of the stored intents on the SMO',
        default: 'tutti-system',
      },
      'edge-kubeconfig': {
        type: 'string',
        description:
          "kubeconfig for reading the edge cluster's bundles (without it, intents stay inProgress)",
        env: 'TUTTI_EDGE_KUBECONFIG',
      },
      'edge-context': {
        type: 'string',
        description: 'context of --edge-kubeconfig (default: its current-context)',
      },
      port: { type: 'string', description: 'port to listen on', default: String(DEFAULT_INTENT_PORT) },
      host: { type: 'string', description: 'address to listen on', default: '127.0.0.1' },
    },
    async run(o) {
      const repo = httpRepo(o);
      const port = parseInteger(o['port'] as string, 'port', 0, 65535);
      if (o['edge-context'] && !o['edge-kubeconfig'])
        throw new UsageError('--edge-context picks a context of --edge-kubeconfig: give both');
      const smo = await KubeClient.load(o['kubeconfig'] as string | undefined, {
        fieldManager: FIELD_MANAGER,
        context: o['context'] as string | undefined,
      });
      const edge = o['edge-kubeconfig']
        ? await KubeClient.load(o['edge-kubeconfig'] as string, {
            fieldManager: FIELD_MANAGER,
            context: o['edge-context'] as string | undefined,
          })
        : undefined;
      const namespace = o['namespace'] as string;
      await smo.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      const log = componentLogger('tmf921');
      const service = new IntentService({
        store: new IntentStore(smo, namespace),
        edge,
        publish: { repo, branch: o['branch'] as string, credentials: gitCredentials(o) },
        log,
      });
      const server = new IntentServer(service, { host: o['host'] as string, log });
      const bound = await server.start(port);
      console.log(`TMF921 intents on http://${o['host']}:${bound}${INTENT_PATH}`);
      // A withdrawal or intent whose publish the last run did not finish reaches git now.
      void service.start();
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      await server.stop();
      await service.close();
      smo.close();
      edge?.close();
      return 0;
    },
  },
  {
    name: 'gitops e2e',
    summary:
      'The WF-D end-to-end run: local SMO control plane, git server, an edge (fake: a local control plane with ' +
      'simulated nodes; real: the cluster --kubeconfig names); a TMF921 intent in, bundles Ready and ' +
      'ProvisioningRequests fulfilled on the edge, then withdrawn and pruned. Writes artifacts/wf-d-e2e-<timestamp>/ ' +
      '(test-report.md, pr-*.yaml, <mode>-nodes.txt, <mode>-namespaces.txt); exits 1 when a check fails.',
    options: {
      mode: { type: 'string', description: 'fake, real or both', default: 'fake' },
      kubeconfig: { type: 'string', description: 'the edge cluster for --mode real or both' },
      context: { ...contextFlag, description: 'context of --kubeconfig for --mode real or both' },
      name: {
        type: 'string',
        description: 'base name of the local control planes (<name>-smo, <name>-edge)',
        default: 'wf-d',
      },
      artifacts: {
        type: 'string',
        description: 'where wf-d-e2e-<timestamp>/ is written',
        default: 'artifacts',
      },
      period: { type: 'string', description: 'edge sync period', default: '2s' },
      timeout: { type: 'string', description: 'how long each wait may take', default: '180s' },
    },
    async run(o) {
      const mode = o['mode'] as string;
      const modes: E2eMode[] =
        mode === 'both' ? ['fake', 'real'] : mode === 'fake' || mode === 'real' ? [mode] : [];
      if (!modes.length) throw new UsageError(`--mode: "${mode}" is not fake, real or both`);
      if (modes.includes('real') && !o['kubeconfig'])
        throw new UsageError(`--mode ${mode} needs --kubeconfig naming the edge cluster`);
      const result = await runWfdE2e({
        modes,
        kubeconfig: o['kubeconfig'] as string | undefined,
        context: o['context'] as string | undefined,
        name: o['name'] as string,
        artifactsRoot: o['artifacts'] as string,
        periodMs: parseDuration(o['period'] as string, 'period'),
        timeoutMs: parseDuration(o['timeout'] as string, 'timeout'),
        say: (line) => console.error(`wf-d: ${line}`),
      });
      for (const c of result.checks)
        console.log(`${c.ok ? 'PASS' : 'FAIL'} [${c.mode}] ${c.name}: ${c.detail}`);
      console.log(result.dir);
      return result.ok ? 0 : 1;
    },
  },
  {
    name: 'gitops o2ims',
    summary:
      `On the edge: serve the O2IMS infrastructure inventory read API (${INVENTORY_PREFIX}/v1: the O-Cloud, ` +
      'deploymentManagers, resourceTypes, resourcePools and their resources, subscriptions with change ' +
      'notifications) and the monitoring API ' +
      `(${MONITORING_PREFIX}/v1/alarms), built from the cluster's nodes. ` +
      '`tutti operator --module gitops --o2ims-port 8090` serves the same beside the edge controllers.',
    options: {
      kubeconfig: {
        type: 'string',
        description: 'kubeconfig of the edge cluster (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
      },
      context: contextFlag,
      port: { type: 'string', description: 'port to listen on', default: String(DEFAULT_INVENTORY_PORT) },
      host: { type: 'string', description: 'address to listen on', default: '127.0.0.1' },
      name: { type: 'string', description: 'the O-Cloud name', default: 'edge1' },
      namespace: {
        type: 'string',
        description: 'namespace the subscriptions are kept in (must exist)',
        default: 'tutti-system',
      },
      'notify-period': {
        type: 'string',
        description: 'how often inventory changes are looked for and sent to subscribers',
        default: '10s',
      },
    },
    async run(o) {
      const settings = {
        port: parseInteger(o['port'] as string, 'port', 0, 65535),
        host: o['host'] as string,
        name: o['name'] as string,
        namespace: o['namespace'] as string,
        notifyPeriodMs: parseDuration(o['notify-period'] as string, 'notify-period'),
      };
      const client = await KubeClient.load(o['kubeconfig'] as string | undefined, {
        fieldManager: FIELD_MANAGER,
        context: o['context'] as string | undefined,
      });
      const log = componentLogger('o2ims');
      const { port, runnables } = await startInventory(client, settings, log);
      console.log(`O2IMS inventory on http://${settings.host}:${port}${INVENTORY_PREFIX}/v1`);
      console.log(`O2IMS monitoring on http://${settings.host}:${port}${MONITORING_PREFIX}/v1`);
      const stop = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
      await Promise.all(runnables.map((r) => r.start(stop.signal)));
      client.close();
      return 0;
    },
  },
  crdsCommand(
    'gitops',
    'Print the CRDs of the gitops module (Nephio bundles, O2IMS ProvisioningRequest, GitSync), or write them to --out.',
    gitopsCrds,
  ),
];
