import { randomBytes } from 'node:crypto';
import type { Performer } from '../../apis/hourglass.eigenlayer.io/performer.js';
import { componentLogger } from '../../runtime/log.js';
import { waitFor } from '../../runtime/wait.js';
import { avsLabelValue } from '../desired-state.js';
import { type EndpointResolver, endpointResolver } from '../grpc/endpoint-resolver.js';
import {
  type CallOptions,
  PerformerClient,
  type PerformerClientOptions,
  type Task,
  type TaskResult,
} from '../grpc/performer-client.js';
import type { KubernetesConfig } from './kubernetes-config.js';
import {
  type CreatePerformerRequest,
  KubernetesManager,
  performerFor,
  validateCreatePerformerRequest,
} from './kubernetes-manager.js';

/** A performer's place in a blue-green deployment. */
export type PerformerResourceStatus = 'Staged' | 'InService';

/** What to run: the image and version, plus any Performer fields beyond the defaults. */
export interface PerformerImage
  extends Omit<CreatePerformerRequest, 'name' | 'avsAddress' | 'image' | 'version'> {
  image: string;
  version?: string;
}

export interface PerformerMetadata {
  performerId: string;
  avsAddress: string;
  status: PerformerResourceStatus;
  image: string;
  version?: string;
  endpoint: string;
  phase?: string;
  ready: boolean;
  tasksInFlight: number;
}

export interface PerformerCreationResult {
  performerId: string;
  endpoint: string;
}

export interface DeploymentResult {
  performerId: string;
  endpoint: string;
  /** The performer it replaced: removed, or, when its deletion failed, by the next deploy. */
  replaced?: string;
}

/** The executor's side of an AVS performer, as the seed's `IAvsPerformer`. */
export interface IAvsPerformer {
  initialize(): Promise<void>;
  deploy(image: PerformerImage): Promise<DeploymentResult>;
  createPerformer(image: PerformerImage): Promise<PerformerCreationResult>;
  promotePerformer(performerId: string): Promise<void>;
  runTask(task: Task, opts?: CallOptions): Promise<TaskResult>;
  removePerformer(performerId: string): Promise<void>;
  listPerformers(): PerformerMetadata[];
  shutdown(): Promise<void>;
}

export interface KubernetesPerformerOptions {
  avsAddress: string;
  kubernetes?: Partial<KubernetesConfig>;
  /** An existing manager (and its client); otherwise one is loaded from `kubernetes.kubeconfig`. */
  manager?: KubernetesManager;
  /** Where to dial each performer; the cluster DNS name in a Pod by default. */
  endpointResolver?: EndpointResolver;
  grpc?: PerformerClientOptions;
  /** How long `deploy` waits for a new performer to become Ready (default 5 min). */
  readyTimeoutMs?: number;
  /** How long promotion waits for the old performer's tasks before removing it anyway (60 s). */
  drainTimeoutMs?: number;
  pollIntervalMs?: number;
}

interface ManagedPerformer {
  id: string;
  status: PerformerResourceStatus;
  image: string;
  version?: string;
  endpoint: string;
  client: PerformerClient;
  inFlight: number;
  /** Each drain waiting on it: a promotion's and a shutdown's may overlap. */
  drained: Set<() => void>;
  resource?: Performer;
  /** Its removal failed (a rollback's, or a promotion's of the old one): retried before the next create. */
  leftover?: boolean;
}

/**
 * `adoptPerformer`'s answer when the Performer is known to be no use: gone, being deleted, or
 * another AVS's. Any other failure (the API server unreachable, the read refused) says nothing
 * about whether it still serves.
 */
export class PerformerGoneError extends Error {
  override name = 'PerformerGoneError';
}

/** Condition reasons that mean a performer will not become Ready without a change. */
const HOPELESS_REASONS = new Set(['HardwareUnavailable', 'ImagePullFailed']);

/** A wait's failure, with what the operator last reported wrong with the Performer (a FailedCreate, say). */
function withProblem(message: string, performer: Performer | undefined): string {
  const degraded = performer?.status?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True');
  return degraded ? `${message} (last reported: ${degraded.reason}: ${degraded.message})` : message;
}

/**
 * `IAvsPerformer` on Kubernetes: performers are Performer resources that the Hourglass operator
 * runs; this class stages, promotes and removes them blue-green (one InService, at most one
 * Staged) and runs tasks on the InService one over gRPC.
 */
export class KubernetesPerformer implements IAvsPerformer {
  private readonly log = componentLogger('hourglass-executor');
  private manager: KubernetesManager | undefined;
  private readonly resolve: EndpointResolver;
  private readonly performers = new Map<string, ManagedPerformer>();
  /** The deploy under way, which a release waits for. */
  private deploying: Promise<DeploymentResult> | undefined;
  /** Aborted when it starts to shut down or release: a deploy still waiting for its performer gives up. */
  private readonly calledOff = new AbortController();
  private state: 'new' | 'running' | 'draining' | 'shut down' = 'new';
  /** The shutdown or release under way, which later calls wait for; cleared when it fails. */
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: KubernetesPerformerOptions) {
    if (!opts.avsAddress?.trim()) throw new Error('KubernetesPerformer needs an avsAddress');
    this.manager = opts.manager;
    this.resolve = opts.endpointResolver ?? endpointResolver();
  }

  async initialize(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot initialize: the performer is ${this.state}`);
    this.manager ??= await KubernetesManager.load(this.opts.kubernetes);
    await this.manager.checkConnection();
    this.state = 'running';
  }

  /** Create → wait Ready → promote; any failure removes the new performer and keeps the old one. */
  async deploy(image: PerformerImage): Promise<DeploymentResult> {
    this.requireRunning('deploy');
    if (this.deploying)
      throw new Error('a deploy is already in progress for this AVS; wait for it to finish');
    const deploying = this.stageAndPromote(image);
    this.deploying = deploying;
    try {
      return await deploying;
    } finally {
      this.deploying = undefined;
    }
  }

  private async stageAndPromote(image: PerformerImage): Promise<DeploymentResult> {
    let staged: PerformerCreationResult | undefined;
    try {
      staged = await this.createPerformer(image);
      await this.waitReady(staged.performerId);
      const replaced = this.inService()?.id;
      await this.promotePerformer(staged.performerId);
      return { ...staged, ...(replaced ? { replaced } : {}) };
    } catch (err) {
      const stagedId = staged?.performerId;
      if (stagedId && this.performers.get(stagedId)?.status === 'Staged') {
        this.log.warn({ performer: stagedId, err: (err as Error).message }, 'deploy failed; rolling back');
        await this.removePerformer(stagedId).catch((e: Error) => {
          this.markLeftover(stagedId);
          this.log.error(
            { performer: stagedId, err: e.message },
            'rollback could not remove the performer; the next deploy removes it',
          );
        });
      }
      throw new Error(
        `deploy of ${image.image}${image.version ? ` ${image.version}` : ''} rolled back: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  async createPerformer(image: PerformerImage): Promise<PerformerCreationResult> {
    const manager = this.requireRunning('create a performer');
    // Otherwise a leftover would stay Staged, and refuse every create after it.
    for (const p of [...this.performers.values()].filter((p) => p.leftover))
      await this.removePerformer(p.id).catch((err: Error) => {
        throw new Error(`cannot remove performer ${p.id} left by an earlier deploy: ${err.message}`, {
          cause: err,
        });
      });
    const staged = [...this.performers.values()].find((p) => p.status === 'Staged');
    if (staged) throw new Error(`performer ${staged.id} is already staged; promote or remove it first`);
    const name = `${avsLabelValue(this.opts.avsAddress)
      .replace(/[^a-z0-9-]/g, '')
      .slice(0, 20)
      .replace(/-+$/, '')}-${randomBytes(4).toString('hex')}`;
    const { image: img, version, ...rest } = image;
    const req = {
      ...rest,
      name,
      avsAddress: this.opts.avsAddress,
      image: img,
      ...(version ? { version } : {}),
    };
    validateCreatePerformerRequest(req);
    // Resolved first: a resolver that fails must not leave a Performer no one tracks.
    const endpoint = this.resolve(performerFor(req, manager.config));
    const resource = await manager.createPerformer(req);
    this.performers.set(name, {
      id: name,
      status: 'Staged',
      image: img,
      ...(version ? { version } : {}),
      endpoint,
      client: new PerformerClient(endpoint, this.opts.grpc),
      inFlight: 0,
      drained: new Set(),
      resource,
    });
    this.log.info({ performer: name, image: img, version }, 'performer staged');
    return { performerId: name, endpoint };
  }

  /** Makes a Staged performer InService; the previous one is drained, then removed. */
  async promotePerformer(performerId: string): Promise<void> {
    this.requireRunning('promote a performer');
    const next = this.performers.get(performerId);
    if (!next) throw new Error(`no performer ${performerId} to promote`);
    if (next.status === 'InService') return;
    const previous = this.inService();
    next.status = 'InService';
    this.log.info({ performer: performerId, replaces: previous?.id }, 'performer promoted');
    if (previous) {
      previous.status = 'Staged';
      await this.drain(previous);
      // The promotion stands: the new performer serves whether or not the old one is gone yet.
      await this.removePerformer(previous.id).catch((err: Error) => {
        this.markLeftover(previous.id);
        this.log.warn(
          { performer: previous.id, err: err.message },
          'could not remove the replaced performer; the next deploy removes it',
        );
      });
    }
  }

  /**
   * Takes an existing Performer (one this AVS's executor deployed before it restarted) as the
   * InService performer, without redeploying it. Fails with `PerformerGoneError` when it is gone,
   * being deleted or another AVS's; with the API error when it cannot be read.
   */
  async adoptPerformer(performerId: string): Promise<PerformerMetadata> {
    const manager = this.requireRunning('adopt a performer');
    if (this.inService())
      throw new Error(`cannot adopt ${performerId}: ${this.inService()?.id} is in service`);
    const resource = await manager.getPerformer(performerId);
    if (!resource) throw new PerformerGoneError(`cannot adopt performer ${performerId}: it does not exist`);
    if (resource.metadata?.deletionTimestamp)
      throw new PerformerGoneError(`cannot adopt performer ${performerId}: it is being deleted`);
    if (avsLabelValue(resource.spec.avsAddress) !== avsLabelValue(this.opts.avsAddress))
      throw new PerformerGoneError(
        `cannot adopt performer ${performerId}: it serves AVS ${resource.spec.avsAddress}, not ${this.opts.avsAddress}`,
      );
    const endpoint = this.resolve(resource);
    this.performers.set(performerId, {
      id: performerId,
      status: 'InService',
      image: resource.spec.image,
      ...(resource.spec.version ? { version: resource.spec.version } : {}),
      endpoint,
      client: new PerformerClient(endpoint, this.opts.grpc),
      inFlight: 0,
      drained: new Set(),
      resource,
    });
    this.log.info({ performer: performerId }, 'performer adopted');
    return this.listPerformers().find((p) => p.performerId === performerId)!;
  }

  /**
   * Drops the InService performer when its Performer was deleted behind the executor's back, so
   * it is no longer reported or used; true when it was the one in service.
   */
  forgetPerformer(performerId: string): boolean {
    const p = this.performers.get(performerId);
    if (p?.status !== 'InService') return false;
    p.client.close();
    this.performers.delete(performerId);
    this.log.warn({ performer: performerId }, 'the in-service performer was deleted');
    return true;
  }

  /** Takes a newer copy of a tracked Performer (its status: phase, ready). */
  observePerformer(resource: Performer): void {
    const p = resource.metadata?.name ? this.performers.get(resource.metadata.name) : undefined;
    if (p) p.resource = resource;
  }

  async runTask(task: Task, opts: CallOptions = {}): Promise<TaskResult> {
    if (this.state === 'draining' || this.state === 'shut down')
      throw new Error(`cannot run task ${task.taskId}: the performer is ${this.state}`);
    const performer = this.inService();
    if (!performer)
      throw new Error(
        `cannot run task ${task.taskId}: no performer is in service for ${this.opts.avsAddress}`,
      );
    performer.inFlight++;
    try {
      return await performer.client.executeTask(task, opts);
    } finally {
      performer.inFlight--;
      if (performer.inFlight === 0) for (const drained of performer.drained) drained();
    }
  }

  async removePerformer(performerId: string): Promise<void> {
    const manager = this.requireManager();
    const performer = this.performers.get(performerId);
    if (performer?.status === 'InService' && this.state === 'running')
      throw new Error(`performer ${performerId} is in service; promote another one before removing it`);
    await manager.deletePerformer(performerId);
    performer?.client.close();
    this.performers.delete(performerId);
    this.log.info({ performer: performerId }, 'performer removed');
  }

  listPerformers(): PerformerMetadata[] {
    return [...this.performers.values()].map((p) => ({
      performerId: p.id,
      avsAddress: this.opts.avsAddress,
      status: p.status,
      image: p.image,
      ...(p.version ? { version: p.version } : {}),
      endpoint: p.endpoint,
      ...(p.resource?.status?.phase ? { phase: p.resource.status.phase } : {}),
      ready: p.resource?.status?.ready === true,
      tasksInFlight: p.inFlight,
    }));
  }

  /**
   * Refuses new tasks, waits for those in flight, then removes every performer it manages. When a
   * removal fails it throws, still refusing tasks; a later call removes the rest.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.state === 'shut down') return;
    if (this.state === 'new') {
      this.state = 'shut down';
      return;
    }
    this.beginStopping();
    this.stopping = (async () => {
      // The deploy under way ends first (called off, or its promotion finished), so that its
      // rollback or its removal of the old performer does not race the removals below.
      await this.deploying?.catch(() => {});
      for (const p of this.performers.values()) await this.drain(p);
      for (const id of [...this.performers.keys()]) await this.removePerformer(id);
      this.state = 'shut down';
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  /** Whether it refuses tasks for good: shut down, released, or on its way there. */
  isStopped(): boolean {
    return this.state === 'draining' || this.state === 'shut down';
  }

  /**
   * Refuses new tasks, waits for those in flight and closes the connections, but leaves every
   * Performer running: an executor that stops to restart picks them up again (`adoptPerformer`).
   * A deploy under way is ended first: called off (rolled back) unless its performer is promoted
   * already, in which case the promotion finishes.
   */
  async release(): Promise<void> {
    // After a shutdown under way; one that failed leaves its performers running, as this does.
    if (this.stopping) await this.stopping.catch(() => {});
    if (this.state === 'shut down') return;
    const wasRunning = this.state === 'running';
    this.beginStopping();
    this.stopping = (async () => {
      // A deploy under way ends first, where the caller can record it: one still waiting for its
      // performer gives up and removes it; one promoting drains and deletes the old performer, so
      // the new one is all that is left running. Otherwise it would go on after the release.
      await this.deploying?.catch(() => {});
      if (wasRunning) for (const p of this.performers.values()) await this.drain(p);
      for (const p of this.performers.values()) p.client.close();
      this.performers.clear();
      this.state = 'shut down';
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  /** Waits until the operator reports the Performer Ready and it answers gRPC health checks. */
  private async waitReady(performerId: string): Promise<void> {
    const manager = this.requireManager();
    const timeoutMs = this.opts.readyTimeoutMs ?? 300_000;
    const intervalMs = this.opts.pollIntervalMs ?? 500;
    const performer = this.performers.get(performerId)!;
    const { signal } = this.calledOff;
    // A performer that cannot become Ready (no node for its hardware, an image that cannot be
    // pulled, a Failed phase) ends the wait at once rather than at the deadline.
    const outcome = await waitFor(
      async () => {
        // Released or shut down meanwhile: nobody will promote it, so stop waiting.
        if (this.state !== 'running') return { failed: `the performer is ${this.state}` };
        const current = await manager.getPerformer(performerId);
        if (!current) return { failed: `Performer ${performerId} was deleted` };
        performer.resource = current;
        const hopeless = current.status?.conditions?.find(
          (c) => c.type === 'Degraded' && c.status === 'True' && HOPELESS_REASONS.has(c.reason),
        );
        if (hopeless) return { failed: `${hopeless.reason}: ${hopeless.message}` };
        if (current.status?.phase === 'Failed') return { failed: 'its phase is Failed' };
        return current.status?.ready === true && { failed: undefined };
      },
      { description: `Performer ${performerId} to be Ready`, timeoutMs, intervalMs, signal },
    ).catch((err: Error) => ({
      failed: signal.aborted
        ? `the performer is ${this.state}`
        : withProblem(err.message, performer.resource),
    }));
    if (outcome.failed) throw new Error(`performer ${performerId} did not become Ready: ${outcome.failed}`);
    await waitFor(async () => (await performer.client.checkHealth()) === 'SERVING', {
      description: `performer ${performerId} at ${performer.endpoint} to serve gRPC health`,
      timeoutMs: this.manager?.config.connectionTimeoutMs ?? 30_000,
      intervalMs,
      signal,
    }).catch((err: Error) => {
      throw signal.aborted
        ? new Error(`performer ${performerId} was not promoted: the performer is ${this.state}`)
        : err;
    });
  }

  /** Refuses tasks from now on, and calls off a deploy still waiting for its performer. */
  private beginStopping(): void {
    this.state = 'draining';
    this.calledOff.abort();
  }

  private async drain(performer: ManagedPerformer): Promise<void> {
    if (performer.inFlight === 0) return;
    const timeoutMs = this.opts.drainTimeoutMs ?? 60_000;
    this.log.info({ performer: performer.id, inFlight: performer.inFlight }, 'draining performer');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ performer: performer.id, inFlight: performer.inFlight }, 'drain timed out');
        drained();
      }, timeoutMs);
      const drained = () => {
        clearTimeout(timer);
        performer.drained.delete(drained);
        resolve();
      };
      performer.drained.add(drained);
    });
  }

  private markLeftover(performerId: string): void {
    const p = this.performers.get(performerId);
    if (p) p.leftover = true;
  }

  private inService(): ManagedPerformer | undefined {
    return [...this.performers.values()].find((p) => p.status === 'InService');
  }

  private requireManager(): KubernetesManager {
    if (!this.manager) throw new Error('the performer is not initialized: call initialize() first');
    return this.manager;
  }

  private requireRunning(what: string): KubernetesManager {
    if (this.state !== 'running')
      throw new Error(
        `cannot ${what}: the performer is ${this.state === 'new' ? 'not initialized' : this.state}`,
      );
    return this.requireManager();
  }
}
