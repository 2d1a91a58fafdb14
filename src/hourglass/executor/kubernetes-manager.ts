import { setTimeout as delay } from 'node:timers/promises';
import {
  MAX_PERFORMER_NAME,
  PERFORMER_API_VERSION,
  PERFORMER_FINALIZER,
  type Performer,
  type PerformerSpec,
  Performers,
  TEE_TYPES,
} from '../../apis/hourglass.eigenlayer.io/performer.js';
import { KubeClient } from '../../runtime/client/client.js';
import {
  ForbiddenError,
  isRetryable,
  NotFoundError,
  UnauthorizedError,
} from '../../runtime/client/errors.js';
import { avsLabelValue, LABEL_AVS } from '../desired-state.js';
import { type KubernetesConfig, kubernetesConfig } from './kubernetes-config.js';

/** The label on the Performers an executor creates, naming the executor's component. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'hourglass-executor';

/** What an executor asks for when it creates a Performer. */
export interface CreatePerformerRequest {
  name: string;
  avsAddress: string;
  image: string;
  version?: string;
  imagePullPolicy?: PerformerSpec['imagePullPolicy'];
  grpcPort?: number;
  environment?: Record<string, string>;
  environmentFrom?: NonNullable<PerformerSpec['config']>['environmentFrom'];
  args?: string[];
  command?: string[];
  serviceAccountName?: string;
  resources?: PerformerSpec['resources'];
  scheduling?: PerformerSpec['scheduling'];
  hardwareRequirements?: PerformerSpec['hardwareRequirements'];
  imagePullSecrets?: PerformerSpec['imagePullSecrets'];
  labels?: Record<string, string>;
}

/** Checks a request before it reaches the API server, naming every field that is wrong. */
export function validateCreatePerformerRequest(req: CreatePerformerRequest): void {
  const problems: string[] = [];
  if (!req.name || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(req.name))
    problems.push(`name "${req.name ?? ''}" must be lower-case letters, digits and '-'`);
  else if (req.name.length > MAX_PERFORMER_NAME)
    problems.push(`name "${req.name}" is longer than ${MAX_PERFORMER_NAME} characters`);
  if (!req.avsAddress?.trim()) problems.push('avsAddress is required');
  if (!req.image?.trim()) problems.push('image is required');
  else if (/\s/.test(req.image)) problems.push(`image "${req.image}" contains whitespace`);
  if (
    req.grpcPort !== undefined &&
    (!Number.isInteger(req.grpcPort) || req.grpcPort < 1 || req.grpcPort > 65535)
  )
    problems.push(`grpcPort ${req.grpcPort} is not a port (1-65535)`);
  const hw = req.hardwareRequirements;
  if (hw?.gpuCount !== undefined && (!Number.isInteger(hw.gpuCount) || hw.gpuCount < 0))
    problems.push(`hardwareRequirements.gpuCount must be a whole number ≥ 0, got ${hw.gpuCount}`);
  if (hw?.teeType !== undefined && !TEE_TYPES.includes(hw.teeType))
    problems.push(`hardwareRequirements.teeType "${hw.teeType}" is not one of ${TEE_TYPES.join(', ')}`);
  if (hw?.teeRequired && !hw.teeType) problems.push('hardwareRequirements.teeRequired needs teeType');
  if (problems.length) throw new Error(`invalid performer request: ${problems.join('; ')}`);
}

/** The Performer resource for a request, in the manager's namespace. */
export function performerFor(req: CreatePerformerRequest, config: KubernetesConfig): Performer {
  const grpcPort = req.grpcPort ?? config.grpcPort;
  const serviceAccountName = req.serviceAccountName ?? config.serviceAccountName;
  const hasConfig =
    req.environment || req.environmentFrom || req.args || req.command || serviceAccountName || grpcPort;
  return {
    apiVersion: PERFORMER_API_VERSION,
    kind: 'Performer',
    metadata: {
      name: req.name,
      namespace: config.namespace,
      labels: {
        ...(req.labels ?? {}),
        [LABEL_AVS]: avsLabelValue(req.avsAddress),
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      // Set here rather than by the operator's first reconcile: one write fewer per Performer.
      finalizers: [PERFORMER_FINALIZER],
    },
    spec: {
      avsAddress: req.avsAddress,
      image: req.image,
      ...(req.version ? { version: req.version } : {}),
      ...(req.imagePullPolicy ? { imagePullPolicy: req.imagePullPolicy } : {}),
      ...(hasConfig
        ? {
            config: {
              grpcPort,
              ...(req.environment ? { environment: req.environment } : {}),
              ...(req.environmentFrom ? { environmentFrom: req.environmentFrom } : {}),
              ...(req.args ? { args: req.args } : {}),
              ...(req.command ? { command: req.command } : {}),
              ...(serviceAccountName ? { serviceAccountName } : {}),
            },
          }
        : {}),
      ...(req.resources ? { resources: req.resources } : {}),
      ...(req.scheduling ? { scheduling: req.scheduling } : {}),
      ...(req.hardwareRequirements ? { hardwareRequirements: req.hardwareRequirements } : {}),
      ...(req.imagePullSecrets ? { imagePullSecrets: req.imagePullSecrets } : {}),
    },
  };
}

/**
 * Performer CRUD for an executor, in one namespace, each call retried on transient API errors
 * (`retryAttempts` tries, `retryDelay` apart).
 */
export class KubernetesManager {
  readonly config: KubernetesConfig;

  constructor(
    readonly client: KubeClient,
    config: Partial<KubernetesConfig> = {},
  ) {
    this.config = kubernetesConfig(config);
  }

  static async load(config: Partial<KubernetesConfig> = {}): Promise<KubernetesManager> {
    const c = kubernetesConfig(config);
    return new KubernetesManager(
      await KubeClient.load(c.kubeconfig, { fieldManager: MANAGED_BY, context: c.context }),
      c,
    );
  }

  /** Fails within `connectionTimeout` when the API server or the Performer API is not there. */
  async checkConnection(): Promise<void> {
    const timeout = AbortSignal.timeout(this.config.connectionTimeoutMs);
    const attempt = this.client.list(Performers, { namespace: this.config.namespace, limit: 1 });
    const timedOut = new Promise<never>((_, reject) =>
      timeout.addEventListener('abort', () =>
        reject(new Error(`no answer from the Kubernetes API within ${this.config.connectionTimeoutMs} ms`)),
      ),
    );
    try {
      await Promise.race([attempt, timedOut]);
    } catch (err) {
      // A hint only where the answer points at one: a refused connection is neither.
      const hint =
        err instanceof NotFoundError
          ? ' (is the Performer CRD installed?)'
          : err instanceof ForbiddenError || err instanceof UnauthorizedError
            ? ' (is the executor allowed to list Performers there?)'
            : '';
      throw new Error(
        `cannot list Performers in namespace ${this.config.namespace}${hint}: ${(err as Error).message}`,
      );
    }
  }

  async createPerformer(req: CreatePerformerRequest): Promise<Performer> {
    validateCreatePerformerRequest(req);
    const performer = performerFor(req, this.config);
    return this.withRetries(`create Performer ${req.name}`, () => this.client.create(performer));
  }

  async getPerformer(name: string): Promise<Performer | undefined> {
    return this.withRetries(`get Performer ${name}`, () =>
      this.client.find(Performers, name, this.config.namespace),
    );
  }

  /** Replaces the spec of an existing Performer (an upgrade, when image or version changes). */
  async updatePerformer(name: string, spec: Partial<PerformerSpec>): Promise<Performer> {
    return this.withRetries(`update Performer ${name}`, () =>
      this.client.patch(Performers, name, this.config.namespace, { spec }, 'merge'),
    );
  }

  /** Deletes a Performer; resolves false when it was already gone. */
  async deletePerformer(name: string): Promise<boolean> {
    return this.withRetries(`delete Performer ${name}`, () =>
      this.client.delete(Performers, name, this.config.namespace),
    );
  }

  async listPerformers(avsAddress?: string): Promise<Performer[]> {
    const labelSelector = avsAddress ? `${LABEL_AVS}=${avsLabelValue(avsAddress)}` : undefined;
    const list = await this.withRetries('list Performers', () =>
      this.client.listAll(Performers, { namespace: this.config.namespace, labelSelector }),
    );
    return list.items;
  }

  private async withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.config.retryAttempts) {
          throw Object.assign(
            new Error(`${what} in namespace ${this.config.namespace}: ${(err as Error).message}`),
            {
              cause: err,
            },
          );
        }
        await delay(this.config.retryDelayMs);
      }
    }
  }
}
