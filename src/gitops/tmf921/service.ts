import { randomUUID } from 'node:crypto';
import type { KubeClient } from '../../runtime/client/client.js';
import type { Logger } from '../../runtime/log.js';
import type { IntentExpectation } from '../expectation.js';
import { type PublishOptions, publishTree } from '../publish.js';
import { renderTree } from '../render.js';
import { TranslateError, translateIntent } from '../translate.js';
import { edgeReport } from './edge-status.js';
import type { IntentRecord, LifecycleStatus } from './intent.js';
import type { IntentStore } from './store.js';

/** The id is already taken (409). */
export class IntentConflictError extends Error {
  override name = 'IntentConflictError';
}

export interface IntentServiceOptions {
  readonly store: IntentStore;
  /** The edge cluster, read for its bundles' status; without it intents stay inProgress once published. */
  readonly edge?: KubeClient;
  readonly publish: PublishOptions;
  readonly log?: Logger;
  /** After a failed publish, try again after this long, doubling up to `maxRetryMs` (5 s, 5 min). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

export const DEFAULT_PUBLISH_RETRY_MS = 5_000;
export const DEFAULT_MAX_PUBLISH_RETRY_MS = 300_000;

const now = () => new Date().toISOString();

/**
 * The TMF921 intent lifecycle: an accepted intent is acknowledged, translated and stored; the
 * repository is re-rendered from every stored intent and pushed (inProgress once pushed, failed
 * when the push fails); then the edge's bundles decide fulfilled or failed. Publishes run one at a
 * time, each with every intent stored so far, so concurrent intents never overwrite each other.
 * The store is the truth: a failed publish is tried again, with backoff, until the repository
 * holds what the store does, so no accepted intent or withdrawal is lost to a git outage.
 */
export class IntentService {
  private publishing: Promise<boolean> = Promise.resolve(true);
  private retry?: NodeJS.Timeout;
  private retryMs: number;
  private closed = false;

  constructor(private readonly opts: IntentServiceOptions) {
    this.retryMs = opts.retryMs ?? DEFAULT_PUBLISH_RETRY_MS;
  }

  /** Publishes what the store holds, in case the last run ended before its publish did. */
  start(): Promise<boolean> {
    return this.republish();
  }

  /** No more retries; waits for the publish under way. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.publishing;
  }

  /** Accepts an intent; throws TranslateError (400) or IntentConflictError (409). */
  async create(body: unknown): Promise<IntentRecord> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new TranslateError([{ field: '(body)', message: 'must be a JSON object: a TMF921 Intent' }]);
    const intent = { ...(body as Record<string, unknown>) };
    for (const field of [
      'href',
      'lifecycleStatus',
      'creationDate',
      'lastUpdate',
      'statusChangeDate',
      'characteristic',
    ])
      delete intent[field]; // the server's to set
    intent['id'] ??= randomUUID();
    const expectations = translateIntent(intent);
    const at = now();
    const record: IntentRecord = {
      intent,
      id: String(intent['id']),
      lifecycleStatus: 'acknowledged',
      statusMessage: `translated into ${expectations.length} expectations; publishing`,
      expectationIds: expectations.map((e) => e.intentExpectationId),
      creationDate: at,
      lastUpdate: at,
      statusChangeDate: at,
    };
    try {
      await this.opts.store.create(record);
    } catch (err) {
      if ((err as Error).name === 'AlreadyExistsError')
        throw new IntentConflictError(`an intent with id ${record.id} already exists`);
      throw err;
    }
    void this.republish();
    return record;
  }

  /** The intent with its status brought up to date from the edge. */
  async get(id: string): Promise<IntentRecord | undefined> {
    const r = await this.opts.store.get(id);
    return r && this.refresh(r);
  }

  async list(): Promise<IntentRecord[]> {
    return Promise.all((await this.opts.store.list()).map((r) => this.refresh(r)));
  }

  /**
   * Withdraws an intent: the publish leaves it out, and the edge prunes its objects. `published`
   * is false when that publish failed: the withdrawal stands and is published by a retry.
   */
  async delete(id: string): Promise<{ found: boolean; published: boolean }> {
    if (!(await this.opts.store.delete(id))) return { found: false, published: false };
    return { found: true, published: await this.republish() };
  }

  /** Queues a publish of every stored intent; resolves whether it reached the repository. */
  private republish(): Promise<boolean> {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.publishing = this.publishing
      .then(() => this.publishAll())
      .then(
        () => {
          this.retryMs = this.opts.retryMs ?? DEFAULT_PUBLISH_RETRY_MS;
          return true;
        },
        () => {
          this.retryLater();
          return false;
        },
      );
    return this.publishing;
  }

  private retryLater(): void {
    if (this.closed || this.retry) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(wait * 2, this.opts.maxRetryMs ?? DEFAULT_MAX_PUBLISH_RETRY_MS);
    this.opts.log?.warn({ retryInMs: wait }, 'publishing again later');
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.republish();
    }, wait);
  }

  private async publishAll(): Promise<void> {
    const records = await this.opts.store.list();
    const expectations: IntentExpectation[] = records.flatMap((r) => translateIntent(r.intent));
    try {
      const result = await publishTree(
        renderTree(expectations),
        expectations.map((e) => e.intentExpectationId),
        this.opts.publish,
      );
      for (const r of records) {
        if (r.commit && r.lifecycleStatus !== 'acknowledged' && r.lifecycleStatus !== 'failed') continue;
        r.commit = result.commit;
        await this.save(r, 'inProgress', `published in commit ${result.commit}; waiting for the edge`);
      }
      this.opts.log?.info(
        { commit: result.commit, intents: records.length, changed: result.changed },
        'published',
      );
    } catch (err) {
      this.opts.log?.error({ err }, 'publish failed');
      for (const r of records.filter((x) => x.lifecycleStatus === 'acknowledged'))
        await this.save(r, 'failed', `publishing to git failed: ${(err as Error).message}`);
      throw err;
    }
  }

  private async refresh(r: IntentRecord): Promise<IntentRecord> {
    if (!this.opts.edge || !r.commit || r.lifecycleStatus === 'acknowledged') return r;
    const expectations = translateIntent(r.intent);
    const report = await edgeReport(this.opts.edge, r.id, expectations).catch((err: Error) => ({
      status: r.lifecycleStatus as 'inProgress',
      message: `the edge cannot be read: ${err.message}`,
    }));
    if (report.status === r.lifecycleStatus && report.message === r.statusMessage) return r;
    return this.save(r, report.status, report.message);
  }

  private async save(r: IntentRecord, status: LifecycleStatus, message: string): Promise<IntentRecord> {
    const at = now();
    if (status !== r.lifecycleStatus) r.statusChangeDate = at;
    r.lifecycleStatus = status;
    r.statusMessage = message;
    r.lastUpdate = at;
    // A withdrawn intent must not come back through a late status write.
    if (await this.opts.store.get(r.id)) await this.opts.store.save(r);
    return r;
  }
}
