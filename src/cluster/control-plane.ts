import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../runtime/client/client.js';
import { isAlreadyExists } from '../runtime/client/errors.js';
import { Nodes, ServiceAccounts } from '../runtime/client/kinds.js';
import { waitFor } from '../runtime/wait.js';
import { type BinaryName, CONTROL_PLANE_BINARIES, ensureBinaries, KUBERNETES_VERSION } from './binaries.js';
import { withFileLock } from './lock.js';
import { simulatedNodes } from './nodes.js';
import { clusterDir } from './paths.js';
import { ensurePki, type Pki, writeKubeconfig } from './pki.js';
import { freePort, isPortFree } from './ports.js';
import { isRunning, type ProcessRecord, startDetached, stopProcess } from './processes.js';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';
/** Start order; stop order is the reverse. */
export const COMPONENTS: readonly Component[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
];

export const DEFAULT_CLUSTER_NAME = 'tutti';
const SERVICE_CIDR = '10.96.0.0/16';
const POD_CIDR = '10.244.0.0/16';
const KWOK_CONFIG = fileURLToPath(new URL('./kwok.yaml', import.meta.url));

interface Ports {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

/** What `up` leaves on disk, so that any later command can find and manage the running plane. */
export interface ClusterState {
  name: string;
  kubernetesVersion: string;
  createdAt: string;
  ports: Ports;
  kubeconfig: string;
  logDir: string;
  processes: Partial<Record<Component, ProcessRecord>>;
}

export interface ComponentStatus {
  component: Component;
  pid?: number;
  running: boolean;
  log?: string;
}

export interface ClusterStatus {
  name: string;
  dir: string;
  exists: boolean;
  ready: boolean;
  kubeconfig?: string;
  server?: string;
  logDir?: string;
  components: ComponentStatus[];
}

export interface UpOptions {
  onProgress?: (message: string) => void;
  /** Aborting it (Ctrl-C) stops what has started so far: no half-started plane is left running. */
  signal?: AbortSignal;
}

/** Why `name` cannot name a local cluster (it names a directory and a lock file), if it cannot. */
export function clusterNameProblem(name: string): string | undefined {
  if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) return undefined;
  return `cluster name "${name}" must be 1 to 63 lower-case letters, digits and '-', starting with a letter or digit`;
}

/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok simulating the nodes, each a detached process, so the plane outlives
 * the command that started it. All state sits in one directory per cluster name.
 */
export class LocalControlPlane {
  readonly dir: string;

  constructor(readonly name: string = DEFAULT_CLUSTER_NAME) {
    const problem = clusterNameProblem(name);
    if (problem) throw new Error(problem);
    this.dir = clusterDir(name);
  }

  get kubeconfigPath(): string {
    return join(this.dir, 'kubeconfig');
  }

  get logDir(): string {
    return join(this.dir, 'logs');
  }

  private get statePath(): string {
    return join(this.dir, 'state.json');
  }

  async state(): Promise<ClusterState | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath, 'utf8')) as ClusterState;
    } catch {
      return undefined;
    }
  }

  private async saveState(state: ClusterState): Promise<void> {
    const tmp = `${this.statePath}.tmp`;
    await writeFile(tmp, JSON.stringify(state, null, 2));
    await rename(tmp, this.statePath);
  }

  /** Starts the plane, or reuses it when it is already running and ready. Returns the kubeconfig path. */
  async up(opts: UpOptions = {}): Promise<string> {
    const say = opts.onProgress ?? (() => {});
    return this.locked(say, 'starting', opts.signal, async () => {
      const existing = await this.state();
      if (existing) {
        const status = await this.status();
        if (status.ready) {
          say(`cluster "${this.name}" is already running`);
          return this.kubeconfigPath;
        }
        say(`cluster "${this.name}" is not healthy; restarting it`);
        await this.stopAll();
        return this.startOnFreePorts(say, opts.signal, existing.ports);
      }
      return this.startOnFreePorts(say, opts.signal);
    });
  }

  /**
   * Runs `work` holding this cluster's lock; `say` hears when another command holds it, and
   * aborting `signal` ends the wait.
   */
  private locked<T>(
    say: ((m: string) => void) | undefined,
    doing: 'starting' | 'stopping',
    signal: AbortSignal | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    return withFileLock(join(this.dir, '..', `${this.name}.lock`), work, {
      onWait: say,
      signal,
      purpose: `${doing} cluster "${this.name}"`,
    });
  }

  /**
   * Starts the plane; when a component finds its port taken (by a process that bound it after it
   * was chosen), starts again on other ports.
   */
  private async startOnFreePorts(
    say: (m: string) => void,
    signal: AbortSignal | undefined,
    previousPorts?: Ports,
  ): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.start(say, signal, attempt === 1 ? previousPorts : undefined);
      } catch (err) {
        if (attempt === 3 || !/address already in use/.test((err as Error).message)) throw err;
        say('a port was taken while the plane started; starting again on other ports');
      }
    }
  }

  /** Stops every process, frees every port and removes the cluster's data (logs are kept). */
  async down(opts: UpOptions = {}): Promise<void> {
    await this.locked(opts.onProgress, 'stopping', undefined, async () => {
      const state = await this.state();
      const stopped = await this.stopAll(state);
      if (state) {
        // Only the ports of processes that ran are ours to wait for: those of a plane that died
        // long ago may since belong to another program, which would keep the plane from going.
        for (const [key, port] of Object.entries(state.ports) as [keyof Ports, number][]) {
          if (!stopped.has(PORT_OWNERS[key])) continue;
          await waitFor(() => isPortFree(port), {
            description: `port ${port} of cluster "${this.name}" to be released`,
            timeoutMs: 15_000,
          });
        }
      }
      for (const entry of ['etcd', 'pki', 'kubeconfig', 'state.json', 'config']) {
        await rm(join(this.dir, entry), { recursive: true, force: true });
      }
    });
  }

  async status(): Promise<ClusterStatus> {
    const state = await this.state();
    const components: ComponentStatus[] = [];
    for (const component of COMPONENTS) {
      const rec = state?.processes[component];
      components.push({
        component,
        pid: rec?.pid,
        running: rec ? await isRunning(rec) : false,
        log: rec?.log,
      });
    }
    let ready = false;
    if (state && components.every((c) => c.running)) {
      ready = await probe(`https://127.0.0.1:${state.ports.apiserver}/readyz`, await this.adminTls());
    }
    return {
      name: this.name,
      dir: this.dir,
      exists: !!state,
      ready,
      kubeconfig: state ? this.kubeconfigPath : undefined,
      server: state ? `https://127.0.0.1:${state.ports.apiserver}` : undefined,
      logDir: state?.logDir ?? this.logDir,
      components,
    };
  }

  /** Stops one component (SIGTERM; SIGKILL with `kill`), leaving the rest running: for failure tests. */
  async stopComponent(component: Component, opts: { kill?: boolean } = {}): Promise<void> {
    const state = await this.requireState();
    const rec = state.processes[component];
    if (rec) await stopProcess(rec, opts.kill ? 0 : 10_000);
  }

  /** Starts a stopped component again with the arguments it was first started with. */
  async startComponent(component: Component): Promise<void> {
    const state = await this.requireState();
    const rec = state.processes[component];
    if (!rec) throw new Error(`cluster "${this.name}" never started ${component}`);
    if (await isRunning(rec)) return;
    state.processes[component] = await startDetached(component, rec.binary, rec.args, rec.log);
    await this.saveState(state);
    await this.waitComponentHealthy(component, state);
  }

  /** The etcd client URL, for tests that act on storage directly (compaction). */
  async etcdUrl(): Promise<string> {
    return `http://127.0.0.1:${(await this.requireState()).ports.etcd}`;
  }

  private async requireState(): Promise<ClusterState> {
    const state = await this.state();
    if (!state)
      throw new Error(`cluster "${this.name}" is not up (run: tutti cluster up --name ${this.name})`);
    return state;
  }

  /** Stops the processes `state` records (by default, the saved state's); returns those that ran. */
  private async stopAll(state?: ClusterState): Promise<Set<Component>> {
    state ??= await this.state();
    const stopped = new Set<Component>();
    for (const component of [...COMPONENTS].reverse()) {
      const rec = state?.processes[component];
      if (rec && (await isRunning(rec))) {
        await stopProcess(rec);
        stopped.add(component);
      }
    }
    return stopped;
  }

  private async adminTls(): Promise<{ ca: Buffer; cert: Buffer; key: Buffer } | undefined> {
    try {
      const pki = join(this.dir, 'pki');
      return {
        ca: await readFile(join(pki, 'ca.crt')),
        cert: await readFile(join(pki, 'admin.crt')),
        key: await readFile(join(pki, 'admin.key')),
      };
    } catch {
      return undefined;
    }
  }

  private async start(
    say: (m: string) => void,
    signal: AbortSignal | undefined,
    previousPorts?: Ports,
  ): Promise<string> {
    const started = Date.now();
    const bins = await ensureBinaries(CONTROL_PLANE_BINARIES, { onProgress: say, signal });
    signal?.throwIfAborted();
    await mkdir(this.logDir, { recursive: true });
    const configDir = join(this.dir, 'config');
    await mkdir(configDir, { recursive: true });
    const ports = previousPorts && (await allFree(previousPorts)) ? previousPorts : await allocatePorts();
    const pki = await ensurePki(join(this.dir, 'pki'), [
      {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        usage: 'server',
        dnsNames: [
          'localhost',
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
        ],
        ipAddresses: ['127.0.0.1', '10.96.0.1'],
      },
      { name: 'admin', commonName: 'tutti-admin', organization: 'system:masters', usage: 'client' },
      { name: 'controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' },
      { name: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' },
      {
        name: 'apiserver-kubelet-client',
        commonName: 'kube-apiserver-kubelet-client',
        organization: 'system:masters',
        usage: 'client',
      },
      // kwok both calls the API server and serves the simulated kubelets' API (exec, logs).
      {
        name: 'kwok',
        commonName: 'kwok-controller',
        organization: 'system:masters',
        usage: 'both',
        ipAddresses: ['127.0.0.1'],
        dnsNames: ['localhost'],
      },
    ]);
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const kubeconfigOf = async (identity: string, path: string) =>
      writeKubeconfig(path, {
        clusterName: this.name,
        server,
        caPem: await readFile(pki.caCert, 'utf8'),
        certPem: await readFile(pki.cert(identity).cert, 'utf8'),
        keyPem: await readFile(pki.cert(identity).key, 'utf8'),
        user: identity,
      });
    await kubeconfigOf('admin', this.kubeconfigPath);
    for (const identity of ['controller-manager', 'scheduler', 'kwok']) {
      await kubeconfigOf(identity, join(configDir, `${identity}.kubeconfig`));
    }
    const schedulerConfig = join(configDir, 'scheduler.yaml');
    await writeFile(
      schedulerConfig,
      `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ${join(configDir, 'scheduler.kubeconfig')}
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`,
    );

    const state: ClusterState = {
      name: this.name,
      kubernetesVersion: KUBERNETES_VERSION,
      createdAt: new Date().toISOString(),
      ports,
      kubeconfig: this.kubeconfigPath,
      logDir: this.logDir,
      processes: {},
    };
    const args = componentArgs(this.dir, configDir, pki, ports, schedulerConfig);
    try {
      for (const group of [
        ['etcd'],
        ['kube-apiserver'],
        ['kube-controller-manager', 'kube-scheduler', 'kwok'],
      ] as Component[][]) {
        for (const component of group) {
          signal?.throwIfAborted();
          state.processes[component] = await startDetached(
            component,
            bins[component as BinaryName],
            args[component],
            join(this.logDir, `${component}.log`),
          );
          await this.saveState(state);
        }
        await Promise.all(group.map((c) => this.waitComponentHealthy(c, state, signal)));
        say(`${group.join(', ')} ready`);
      }
      await this.registerNodes(signal);
      say(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return this.kubeconfigPath;
    } catch (err) {
      // What this start began, not what was saved: a component whose state could not be written
      // (a full disk) would be left running, detached, with nothing on disk to find it by.
      await this.stopAll(state);
      if (signal?.aborted) throw signal.reason;
      throw new Error(`${(err as Error).message}\nlogs: ${this.logDir}`);
    }
  }

  private async waitComponentHealthy(
    component: Component,
    state: ClusterState,
    signal?: AbortSignal,
  ): Promise<void> {
    const tls = await this.adminTls();
    const url = {
      etcd: `http://127.0.0.1:${state.ports.etcd}/health`,
      'kube-apiserver': `https://127.0.0.1:${state.ports.apiserver}/readyz`,
      'kube-controller-manager': `https://127.0.0.1:${state.ports.controllerManager}/healthz`,
      'kube-scheduler': `https://127.0.0.1:${state.ports.scheduler}/healthz`,
      kwok: `https://127.0.0.1:${state.ports.kwok}/healthz`,
    }[component];
    const rec = state.processes[component]!;
    const failure = async (message: string) => {
      const tail = (await readFile(rec.log, 'utf8').catch(() => '')).trim().split('\n').slice(-8).join('\n');
      return new Error(`${message}\n--- last lines of ${rec.log}:\n${tail}`);
    };
    // A component that exited fails the start at once; one that runs gets until the deadline.
    const outcome = await waitFor(
      async () => ((await isRunning(rec)) ? (await probe(url, tls)) && 'healthy' : 'exited'),
      { description: `${component} to become healthy at ${url}`, timeoutMs: 60_000, intervalMs: 100, signal },
    ).catch(async (err: Error) => {
      throw signal?.aborted ? err : await failure(err.message);
    });
    if (outcome === 'exited') throw await failure(`${component} exited before it became healthy at ${url}`);
  }

  private async registerNodes(signal?: AbortSignal): Promise<void> {
    const client = await KubeClient.load(this.kubeconfigPath, { fieldManager: 'tutti-cluster' });
    try {
      for (const node of simulatedNodes()) {
        try {
          await client.create(node);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
      }
      await waitFor(
        async () => {
          const nodes = await client.list(Nodes);
          return (
            nodes.items.length >= simulatedNodes().length &&
            nodes.items.every((n) =>
              n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
            )
          );
        },
        { description: 'the simulated nodes to be Ready', timeoutMs: 60_000, signal },
      );
      // Pods can only be created once the namespace's default ServiceAccount exists.
      await waitFor(() => client.find(ServiceAccounts, 'default', 'default'), {
        description: 'the default ServiceAccount (kube-controller-manager at work)',
        timeoutMs: 60_000,
        signal,
      });
    } finally {
      client.close();
    }
  }
}

/** The component that listens on each port. */
const PORT_OWNERS: Record<keyof Ports, Component> = {
  etcd: 'etcd',
  etcdPeer: 'etcd',
  apiserver: 'kube-apiserver',
  controllerManager: 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  kwok: 'kwok',
};

async function allocatePorts(): Promise<Ports> {
  const seen = new Set<number>();
  const next = async () => {
    for (;;) {
      const p = await freePort();
      if (!seen.has(p)) {
        seen.add(p);
        return p;
      }
    }
  };
  return {
    etcd: await next(),
    etcdPeer: await next(),
    apiserver: await next(),
    controllerManager: await next(),
    scheduler: await next(),
    kwok: await next(),
  };
}

async function allFree(ports: Ports): Promise<boolean> {
  for (const p of Object.values(ports)) if (!(await isPortFree(p))) return false;
  return true;
}

function componentArgs(
  dir: string,
  configDir: string,
  pki: Pki,
  ports: Ports,
  schedulerConfig: string,
): Record<Component, string[]> {
  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  const kubeconfig = (identity: string) => join(configDir, `${identity}.kubeconfig`);
  return {
    etcd: [
      '--name=tutti',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=tutti=${peerUrl}`,
      '--listen-metrics-urls=',
      // A throwaway local store: durability per write buys nothing and costs every test time.
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=8589934592',
      '--log-level=warn',
    ],
    'kube-apiserver': [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--tls-cert-file=${pki.cert('apiserver').cert}`,
      `--tls-private-key-file=${pki.cert('apiserver').key}`,
      `--client-ca-file=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.cert('apiserver-kubelet-client').cert}`,
      `--kubelet-client-key=${pki.cert('apiserver-kubelet-client').key}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      // Simulated nodes are reached on their InternalIP (127.0.0.1); their names resolve nowhere.
      '--kubelet-preferred-address-types=InternalIP',
      // The Endpoints of `kubernetes` may not hold a loopback address; nothing in-cluster dials it.
      '--endpoint-reconciler-type=none',
      // One client floods a local plane on purpose (benchmarks); no fairness to enforce here.
      '--enable-priority-and-fairness=false',
      '--max-requests-inflight=2000',
      '--max-mutating-requests-inflight=1000',
      // Kubernetes' default: /debug/pprof for the benches (admin only, as every non-resource URL).
      '--profiling=true',
      '--v=1',
    ],
    'kube-controller-manager': [
      `--kubeconfig=${kubeconfig('controller-manager')}`,
      `--authentication-kubeconfig=${kubeconfig('controller-manager')}`,
      `--authorization-kubeconfig=${kubeconfig('controller-manager')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--use-service-account-credentials=true',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--leader-elect=false',
      '--kube-api-qps=1000',
      '--kube-api-burst=2000',
      '--concurrent-deployment-syncs=20',
      '--concurrent-replicaset-syncs=20',
      '--concurrent-job-syncs=20',
      '--concurrent-gc-syncs=40',
      '--v=1',
    ],
    'kube-scheduler': [
      `--config=${schedulerConfig}`,
      `--authentication-kubeconfig=${kubeconfig('scheduler')}`,
      `--authorization-kubeconfig=${kubeconfig('scheduler')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      '--v=1',
    ],
    kwok: [
      `--kubeconfig=${kubeconfig('kwok')}`,
      `--config=${KWOK_CONFIG}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake`,
      '--node-ip=127.0.0.1',
      `--node-port=${ports.kwok}`,
      `--server-address=127.0.0.1:${ports.kwok}`,
      `--tls-cert-file=${pki.cert('kwok').cert}`,
      `--tls-private-key-file=${pki.cert('kwok').key}`,
      `--cidr=${POD_CIDR}`,
      '--node-lease-duration-seconds=40',
    ],
  };
}

/** True when `url` answers 200 (TLS verified against our CA, with the admin identity). */
function probe(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => resolve(ok);
    const req = url.startsWith('https:')
      ? // Component health endpoints serve self-signed certificates of their own.
        httpsGet(url, { ...tls, rejectUnauthorized: url.endsWith('/readyz'), timeout: 2000 }, (res) => {
          res.resume();
          done(res.statusCode === 200);
        })
      : httpGet(url, { timeout: 2000 }, (res) => {
          res.resume();
          done(res.statusCode === 200);
        });
    req.on('error', () => done(false));
    req.on('timeout', () => req.destroy());
  });
}
