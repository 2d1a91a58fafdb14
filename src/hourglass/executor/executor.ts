import { type FSWatcher, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type Performer, Performers } from '../../apis/hourglass.eigenlayer.io/performer.js';
import { KubeClient } from '../../runtime/client/client.js';
import { HealthServer } from '../../runtime/health-server.js';
import { Informer } from '../../runtime/informer.js';
import { componentLogger } from '../../runtime/log.js';
import { avsLabelValue, LABEL_AVS } from '../desired-state.js';
import type { EndpointResolver } from '../grpc/endpoint-resolver.js';
import type { CallOptions, PerformerClientOptions, Task, TaskResult } from '../grpc/performer-client.js';
import { type AvsPerformerConfig, type ExecutorConfig, loadExecutorConfig } from './executor-config.js';
import {
  executorConfigReloads,
  executorDeployments,
  executorGeneration,
  executorInService,
} from './executor-metrics.js';
import { type ExecutorState, loadExecutorState, saveExecutorState } from './executor-state.js';
import { KubernetesManager, LABEL_MANAGED_BY, MANAGED_BY } from './kubernetes-manager.js';
import { KubernetesPerformer, PerformerGoneError, type PerformerMetadata } from './kubernetes-performer.js';

export interface ExecutorOptions {
  configPath: string;
  /** Where the state survives restarts: the StatefulSet's volume. */
  dataDir: string;
  /** Overrides every `kubernetes.kubeconfig` of the config. */
  kubeconfig?: string;
  /** Overrides every `kubernetes.context` of the config. */
  context?: string;
  /** One client for every AVS (otherwise one per kubeconfig). */
  client?: KubeClient;
  /** Port of /healthz, /readyz and /metrics (default 8080; 0 picks one). */
  healthPort?: number;
  /** Where to dial performers; the cluster DNS name in a Pod by default. */
  endpointResolver?: EndpointResolver;
  grpc?: PerformerClientOptions;
  /** How long a deploy waits for its performer to become Ready (default 5 min). */
  readyTimeoutMs?: number;
  pollIntervalMs?: number;
  /** First wait before a failed deploy is tried again; doubles up to 5 min (default 30 s). */
  redeployBackoffMs?: number;
  /** Reload the config when its file changes (default on). */
  watchConfig?: boolean;
  /**
   * Runs once an AVS's Performers are adopted, before the watch on them starts (tests delete
   * the adopted one there).
   */
  beforeWatch?: (avsAddress: string, adopted: string | undefined) => Promise<void>;
}

interface AvsRuntime {
  config: AvsPerformerConfig;
  performer: KubernetesPerformer;
  manager: KubernetesManager;
  /** The AVS's own Performers, to notice one deleted behind the executor's back. */
  informer: Informer<Performer>;
}

/** An AVS whose last attempt failed: why, how often in a row, and the pending retry. */
interface Failure {
  avsAddress: string;
  why: string;
  count: number;
  retry: NodeJS.Timeout;
}

/** `submitTask` for an AVS that is not in the config: a task API answers NOT_FOUND. */
export class UnknownAvsError extends Error {
  override name = 'UnknownAvsError';
}

const MAX_REDEPLOY_BACKOFF_MS = 300_000;

/**
 * The executor process: keeps one InService performer per configured AVS, deployed blue-green
 * through `KubernetesPerformer`, runs submitted tasks on it, and remembers across restarts (in
 * its data directory) which Performer is in service, so a restart adopts it instead of
 * redeploying. A change of the config file deploys the changed AVSs.
 */
export class Executor {
  private readonly log = componentLogger('hourglass-executor');
  private config: ExecutorConfig | undefined;
  private state: ExecutorState = { generation: 0, avs: {} };
  private readonly avs = new Map<string, AvsRuntime>();
  private readonly clients = new Map<string, KubeClient>();
  private readonly failed = new Map<string, Failure>();
  private queue: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private health: HealthServer | undefined;
  private stopping = false;
  private prepared = false;
  /** The port /healthz, /readyz and /metrics answer on, once started. */
  healthPort = 0;

  constructor(private readonly opts: ExecutorOptions) {}

  /** The config in force (after `start`). */
  get currentConfig(): ExecutorConfig {
    if (!this.config) throw new Error('the executor is not started');
    return this.config;
  }

  /**
   * Loads the config, the state and every AVS's kubeconfig, and serves health and metrics;
   * deploys nothing. Any failure (a bad config, state or kubeconfig, a port in use) is thrown
   * with nothing left running, so a process can exit on it.
   */
  async prepare(): Promise<void> {
    try {
      await this.load();
      this.prepared = true;
    } catch (err) {
      await this.stop().catch(() => {}); // the first failure is the one to report
      throw err;
    }
  }

  /** `prepare` (unless done), then brings every AVS to its configured performer; `settled()` waits for that. */
  async start(): Promise<void> {
    if (!this.prepared) await this.prepare();
    this.enqueue(this.currentConfig);
    if (this.opts.watchConfig ?? true) this.watchConfig();
  }

  private async load(): Promise<void> {
    this.config = await loadExecutorConfig(this.opts.configPath);
    await mkdir(this.opts.dataDir, { recursive: true });
    this.state = await loadExecutorState(this.opts.dataDir);
    executorGeneration.set(this.state.generation);
    // A wrong kubeconfig or context fails now, not in a retry loop.
    for (const c of this.config.avsPerformers) {
      try {
        await this.clientFor(c);
      } catch (err) {
        throw new Error(
          `cannot load the Kubernetes connection for AVS ${c.avsAddress}: ${(err as Error).message}`,
        );
      }
    }

    this.health = new HealthServer({ port: this.opts.healthPort ?? 8080 });
    this.health.addHealthCheck('executor', () => !this.stopping);
    // Ready once every configured AVS has a performer in service; until then /readyz says why.
    this.health.addReadyCheck('performers-in-service', () => {
      const waiting = this.currentConfig.avsPerformers.filter((c) => {
        const performer = this.avs.get(key(c.avsAddress))?.performer;
        // One being removed (its settings changed) refuses tasks, though still listed in service.
        return !performer?.listPerformers().some((p) => p.status === 'InService') || performer.isStopped();
      });
      if (waiting.length === 0) return true;
      throw new Error(
        waiting
          .map(
            (c) =>
              `AVS ${c.avsAddress} has no performer in service: ${this.failed.get(key(c.avsAddress))?.why ?? 'being deployed'}`,
          )
          .join('; '),
      );
    });
    this.healthPort = await this.health.start();
  }

  /** Resolves once every config change seen so far has been applied (or has failed). */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.queue;
      await seen;
    } while (seen !== this.queue);
  }

  /** Why each AVS's last deploy failed, by AVS address; empty when none did. */
  failures(): Record<string, string> {
    return Object.fromEntries([...this.failed.values()].map((f) => [f.avsAddress, f.why]));
  }

  performers(): PerformerMetadata[] {
    return [...this.avs.values()].flatMap((r) => r.performer.listPerformers());
  }

  /** The deployment generation: successful deploys so far, across restarts. */
  get generation(): number {
    return this.state.generation;
  }

  /** Runs a task on the InService performer of `avsAddress`. */
  /**
   * The AVS address as the config spells it, for `avsAddress` in any case; undefined for one the
   * config does not name. Metrics label tasks with it, so that callers cannot add series.
   */
  configuredAvs(avsAddress: string): string | undefined {
    return this.config?.avsPerformers.find((c) => key(c.avsAddress) === key(avsAddress))?.avsAddress;
  }

  async submitTask(
    avsAddress: string,
    task: Task,
    opts: CallOptions = {},
  ): Promise<TaskResult & { performerId: string }> {
    const configured = this.config?.avsPerformers ?? [];
    // Only an AVS missing from the config is unknown: callers take that as final. One configured
    // but not attached yet (or no longer, its settings changed) is unavailable for now.
    if (!configured.some((c) => key(c.avsAddress) === key(avsAddress)))
      throw new UnknownAvsError(
        `this executor serves no AVS ${avsAddress} (it serves ${configured.map((c) => c.avsAddress).join(', ') || 'none'})`,
      );
    if (this.stopping) throw new Error(`the executor is stopping; task ${task.taskId} was not run`);
    const runtime = this.avs.get(key(avsAddress));
    if (!runtime)
      throw new Error(
        `cannot run task ${task.taskId}: no performer is in service yet for ${avsAddress}: ${this.failed.get(key(avsAddress))?.why ?? 'being deployed'}`,
      );
    const performerId = runtime.performer.listPerformers().find((p) => p.status === 'InService')?.performerId;
    const result = await runtime.performer.runTask(task, opts);
    return { ...result, performerId: performerId ?? '' };
  }

  /**
   * Stops watching, refuses new tasks, lets those in flight finish, and leaves the Performers
   * running for the next start to adopt. A deploy under way ends first and its outcome is saved,
   * so the state names the Performer left in service: one still waiting for its new performer is
   * rolled back, one promoting finishes (its old performer drained, up to the drain timeout, and
   * deleted).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.watcher?.close();
    clearTimeout(this.reloadTimer);
    for (const f of this.failed.values()) clearTimeout(f.retry);
    // Releasing ends the deploy under way (see `release`); then its state is saved. Otherwise the
    // deploy went on after stop, and the state could name a deleted Performer or miss the new one.
    await Promise.all([...this.avs.values()].map((r) => r.performer.release()));
    await this.settled();
    // Again, for an AVS attached meanwhile (its deploy is not started once stopping).
    for (const r of this.avs.values()) {
      await r.informer.stop();
      await r.performer.release();
    }
    for (const c of this.clients.values()) c.close();
    await this.health?.stop();
  }

  private enqueue(config: ExecutorConfig): void {
    this.queue = this.queue
      .then(() => this.apply(config))
      .catch((err: Error) => {
        this.log.error({ err: err.message }, 'applying the executor config failed');
      });
  }

  /** Config file changes: the directory is watched, as a ConfigMap volume swaps a symlink. */
  private watchConfig(): void {
    const dir = dirname(this.opts.configPath);
    const file = basename(this.opts.configPath);
    this.watcher = watch(dir, (_event, name) => {
      if (name && name !== file && name !== '..data' && !name.startsWith('..')) return;
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => void this.reload(), 200);
    });
  }

  private async reload(): Promise<void> {
    if (this.stopping) return;
    let next: ExecutorConfig;
    try {
      next = await loadExecutorConfig(this.opts.configPath);
    } catch (err) {
      executorConfigReloads.inc({ result: 'invalid' });
      this.log.error(
        { err: (err as Error).message },
        'the changed config is invalid; keeping the one in force',
      );
      return;
    }
    if (isDeepStrictEqual(next, this.config)) return;
    if (next.grpcPort !== this.config?.grpcPort)
      this.log.warn({ grpcPort: next.grpcPort }, 'grpcPort changed: the task API moves on the next restart');
    executorConfigReloads.inc({ result: 'applied' });
    this.log.info('config changed');
    this.config = next;
    this.enqueue(next);
  }

  /** Brings every AVS to its configured performer, and drops the AVSs no longer configured. */
  private async apply(config: ExecutorConfig): Promise<void> {
    if (this.stopping) return;
    const wanted = new Map(config.avsPerformers.map((c) => [key(c.avsAddress), c]));
    for (const [k, runtime] of [...this.avs]) {
      const next = wanted.get(k);
      if (next && isDeepStrictEqual(next.kubernetes, runtime.config.kubernetes)) {
        if (!runtime.performer.isStopped()) continue;
        // Its removal failed, and now its settings are back: its Performers are wanted again.
        // Let go without deleting them; the attach below adopts the one the state names.
        await runtime.performer.release();
        this.avs.delete(k);
        continue;
      }
      // Gone from the config, or moved to other Kubernetes settings: its performers go.
      this.log.info(
        { avs: runtime.config.avsAddress },
        'AVS removed from the config; removing its performers',
      );
      try {
        await runtime.informer.stop();
        await runtime.performer.shutdown();
      } catch (err) {
        // Kept and tried again: dropped, its Performers would run on with no one to remove them.
        this.scheduleRetry(
          k,
          runtime.config.avsAddress,
          `cannot remove its performers: ${(err as Error).message}`,
        );
        continue;
      }
      this.clearFailure(k);
      this.avs.delete(k);
      executorInService.remove({ avs: runtime.config.avsAddress });
      delete this.state.avs[k];
      await saveExecutorState(this.opts.dataDir, this.state);
    }
    for (const [k, c] of wanted) {
      if (this.stopping) return;
      // Its removal under the old settings failed above; the retry goes on with it.
      if (this.avs.get(k)?.performer.isStopped()) continue;
      try {
        const runtime = this.avs.get(k) ?? (await this.attach(c));
        runtime.config = c;
        if (this.stopping) return; // attached while stopping: stop releases it, deploying nothing
        await this.converge(runtime);
        this.clearFailure(k);
      } catch (err) {
        this.scheduleRetry(k, c.avsAddress, (err as Error).message);
      }
    }
    for (const k of this.failed.keys()) if (!wanted.has(k) && !this.avs.has(k)) this.clearFailure(k);
  }

  /** A runtime for a newly configured AVS, adopting the Performer the state names if it is there. */
  private async attach(c: AvsPerformerConfig): Promise<AvsRuntime> {
    const manager = new KubernetesManager(await this.clientFor(c), c.kubernetes);
    const performer = new KubernetesPerformer({
      avsAddress: c.avsAddress,
      manager,
      ...(this.opts.endpointResolver ? { endpointResolver: this.opts.endpointResolver } : {}),
      ...(this.opts.grpc ? { grpc: this.opts.grpc } : {}),
      ...(this.opts.readyTimeoutMs ? { readyTimeoutMs: this.opts.readyTimeoutMs } : {}),
      ...(this.opts.pollIntervalMs ? { pollIntervalMs: this.opts.pollIntervalMs } : {}),
    });
    await performer.initialize();
    const k = key(c.avsAddress);
    const remembered = this.state.avs[k];
    let adopted: string | undefined;
    if (remembered) {
      try {
        await performer.adoptPerformer(remembered.performerId);
        adopted = remembered.performerId;
        this.log.info(
          { avs: c.avsAddress, performer: adopted },
          'in-service performer adopted from the state',
        );
      } catch (err) {
        // Only a Performer known to be gone may be forgotten: after any other failure it may still
        // be serving, and the cleanup below would delete it. The attach fails, and is tried again.
        if (!(err instanceof PerformerGoneError))
          throw new Error(
            `cannot adopt performer ${remembered.performerId}, in service before the restart: ${(err as Error).message}`,
            { cause: err },
          );
        this.log.warn({ avs: c.avsAddress, err: (err as Error).message }, 'the remembered performer is gone');
        delete this.state.avs[k];
        await saveExecutorState(this.opts.dataDir, this.state);
      }
    }
    // A Performer of this AVS that the executor made and is not in service was being staged when
    // the executor stopped: no one will promote it.
    for (const p of await manager.listPerformers(c.avsAddress)) {
      const name = p.metadata?.name;
      if (!name || name === adopted || p.metadata?.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) continue;
      if (p.metadata?.deletionTimestamp) continue; // already going: the operator finishes it
      if (avsLabelValue(p.spec.avsAddress) !== avsLabelValue(c.avsAddress)) continue;
      this.log.info(
        { avs: c.avsAddress, performer: name },
        'removing a performer left staged by an earlier run',
      );
      await manager.deletePerformer(name);
    }
    await this.opts.beforeWatch?.(c.avsAddress, adopted);
    const informer = new Informer(manager.client, Performers, {
      namespace: manager.config.namespace,
      labelSelector: `${LABEL_AVS}=${avsLabelValue(c.avsAddress)},${LABEL_MANAGED_BY}=${MANAGED_BY}`,
    });
    const runtime: AvsRuntime = { config: c, performer, manager, informer };
    informer.addHandler({
      update: (_old, p) => {
        if (p.metadata?.deletionTimestamp) this.lost(runtime, p.metadata.name);
        else performer.observePerformer(p);
      },
      delete: (p) => this.lost(runtime, p.metadata?.name),
    });
    this.avs.set(k, runtime);
    executorInService.set({ avs: c.avsAddress }, adopted ? 1 : 0);
    informer.start();
    // The watch reports only changes after its first list, so an adopted Performer deleted
    // before that list is missing from it (or listed as deleting): treat that as a deletion.
    // The check runs before the watch starts; `lost` ignores a performer already forgotten.
    if (adopted)
      void informer.waitForSync().then(() => {
        const p = informer.get(`${manager.config.namespace}/${adopted}`);
        if (!p || p.metadata?.deletionTimestamp) this.lost(runtime, adopted);
      });
    return runtime;
  }

  /** The InService Performer was deleted (by someone else): stop reporting it, and redeploy. */
  private lost(runtime: AvsRuntime, name: string | undefined): void {
    if (this.stopping || !name || this.avs.get(key(runtime.config.avsAddress)) !== runtime) return;
    if (!runtime.performer.forgetPerformer(name)) return;
    const { avsAddress } = runtime.config;
    this.log.warn({ avs: avsAddress, performer: name }, 'the in-service Performer was deleted; redeploying');
    executorInService.set({ avs: avsAddress }, 0);
    const k = key(avsAddress);
    // Saved with the redeploy; a restart before it finds the named Performer gone and redeploys.
    if (this.state.avs[k]?.performerId === name) delete this.state.avs[k];
    this.clearFailure(k);
    if (this.config) this.enqueue(this.config);
  }

  /** Deploys the configured image and version unless the InService performer already runs them. */
  private async converge(runtime: AvsRuntime): Promise<void> {
    const { avsAddress, image, version } = runtime.config;
    const current = runtime.performer.listPerformers().find((p) => p.status === 'InService');
    if (current && current.image === image && current.version === version) return;
    this.log.info({ avs: avsAddress, image, version, replaces: current?.performerId }, 'deploying performer');
    let result: Awaited<ReturnType<KubernetesPerformer['deploy']>>;
    try {
      result = await runtime.performer.deploy({ image, ...(version ? { version } : {}) });
    } catch (err) {
      executorDeployments.inc({ avs: avsAddress, result: 'rolled_back' });
      throw err;
    }
    executorDeployments.inc({ avs: avsAddress, result: 'ok' });
    executorInService.set({ avs: avsAddress }, 1);
    this.state.generation++;
    this.state.avs[key(avsAddress)] = {
      performerId: result.performerId,
      image,
      ...(version ? { version } : {}),
      generation: this.state.generation,
      deployedAt: new Date().toISOString(),
    };
    await saveExecutorState(this.opts.dataDir, this.state);
    executorGeneration.set(this.state.generation);
    this.log.info(
      {
        avs: avsAddress,
        performer: result.performerId,
        replaced: result.replaced,
        generation: this.state.generation,
      },
      'performer in service',
    );
  }

  /** Tries the config in force again after a backoff that doubles with each failure in a row. */
  private scheduleRetry(k: string, avsAddress: string, why: string): void {
    if (this.stopping) return;
    const previous = this.failed.get(k);
    clearTimeout(previous?.retry);
    const count = (previous?.count ?? 0) + 1;
    const delayMs = Math.min(
      (this.opts.redeployBackoffMs ?? 30_000) * 2 ** (count - 1),
      MAX_REDEPLOY_BACKOFF_MS,
    );
    const retry = setTimeout(() => {
      if (this.config) this.enqueue(this.config);
    }, delayMs);
    retry.unref();
    this.failed.set(k, { avsAddress, why, count, retry });
    // One line per failed attempt: why, how many in a row, and when the next one is.
    this.log.error(
      { avs: avsAddress, err: why, attempt: count, retryInMs: delayMs },
      'cannot bring the AVS up; will try again',
    );
  }

  private clearFailure(k: string): void {
    clearTimeout(this.failed.get(k)?.retry);
    this.failed.delete(k);
  }

  private async clientFor(c: AvsPerformerConfig): Promise<KubeClient> {
    if (this.opts.client) return this.opts.client;
    const path = this.opts.kubeconfig ?? c.kubernetes.kubeconfig;
    const context = this.opts.context ?? c.kubernetes.context;
    const at = `${path ?? ''}\n${context ?? ''}`;
    let client = this.clients.get(at);
    if (!client) {
      client = await KubeClient.load(path, { fieldManager: MANAGED_BY, context });
      this.clients.set(at, client);
    }
    return client;
  }
}

function key(avsAddress: string): string {
  return avsAddress.toLowerCase();
}
