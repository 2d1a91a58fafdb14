import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeClient } from '../../runtime/client/client.js';
import type { Logger } from '../../runtime/log.js';
import type { IntentExpectation } from '../expectation.js';
import { type PublishOptions, publishRendered } from '../publish.js';
import { publishedExpectations } from '../published.js';
import { canonicalExpectation, renderTree } from '../render.js';
import { TranslateError, translateIntent } from '../translate.js';
import { edgeReport } from './edge-status.js';
import type { IntentRecord, LifecycleStatus } from './intent.js';
import { type IntentStore, StaleRecordError, type UnreadableIntent } from './store.js';

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

/** Identifies what an intent became, so a publish can tell whether its content changed. */
function digestOf(expectations: readonly IntentExpectation[]): string {
  const canonical = JSON.stringify(expectations.map(canonicalExpectation));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** A stored intent that cannot be read, as the API shows it: failed, saying what is wrong. */
function unreadableRecord(u: UnreadableIntent): IntentRecord {
  const at = u.created ?? now();
  return {
    intent: { id: u.id },
    id: u.id,
    lifecycleStatus: 'failed',
    statusMessage: `${u.problem}; ${KEPT}`,
    expectationIds: [],
    creationDate: at,
    lastUpdate: at,
    statusChangeDate: at,
  };
}

/** Why a stored intent cannot be published: its ConfigMap no longer translates. */
function untranslatable(where: string, err: unknown): string {
  return `${where}: the stored intent does not translate: ${(err as Error).message}`;
}

/** A record that cannot be published is published again once fixed, even with the content it had. */
function forgetPublished(r: IntentRecord): void {
  delete r.publishedDigest;
}

/** A stored intent that translates to other than what was last published, with its publish queued. */
const ACCEPTED = 'its ConfigMap changed since it was last published; accepted for publishing';

/** How a publish that failed marks an intent it was to publish; a retry is then already due. */
const PUSH_FAILED = 'publishing to git failed';

/** What publishing does with an intent it cannot render. */
const KEPT =
  'not published: the repository keeps what was published for it before until the ConfigMap is fixed or the intent is withdrawn (DELETE)';

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
  /** Publishes queued that have not yet read the store. */
  private queued = 0;

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
    let expectations = translateIntent(intent);
    if (intent['id'] === undefined) {
      // The id the expression gives, else one of our own: every stored intent has one.
      intent['id'] = expectations[0]?.intentId ?? randomUUID();
      expectations = translateIntent(intent);
    }
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
    if (r && 'problem' in r) return unreadableRecord(r);
    return r && this.refresh(r);
  }

  async list(): Promise<IntentRecord[]> {
    const { records, unreadable } = await this.opts.store.scan();
    const refreshed = await Promise.all(records.map((r) => this.refresh(r)));
    // One withdrawn while it was read is left out.
    return [...refreshed.filter((r) => r !== undefined), ...unreadable.map(unreadableRecord)];
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
    this.queued++;
    this.publishing = this.publishing
      .then(() => {
        this.queued--;
        return this.publishAll();
      })
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

  /** Publishes the store as it is now, unless a queued publish or a pending retry will read it anyway. */
  private publishSoon(): void {
    if (this.closed || this.retry || this.queued) return;
    void this.republish();
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

  /**
   * Publishes every stored intent. One that cannot be rendered (its ConfigMap edited by hand) is
   * marked failed, saying why, and skipped: the others still publish, and the expectations it was
   * published with before are kept in the repository, read back from the branch, so a broken
   * record never withdraws an intent from the edge unasked.
   */
  private async publishAll(): Promise<void> {
    const { records, unreadable } = await this.opts.store.scan();
    const publishable: { r: IntentRecord; expectations: IntentExpectation[] }[] = [];
    const broken = new Map(unreadable.map((u) => [u.id, u.problem]));
    for (const r of records) {
      try {
        publishable.push({ r, expectations: translateIntent(r.intent) });
      } catch (err) {
        broken.set(r.id, untranslatable(this.opts.store.where(r.id), err));
      }
    }
    for (const [id, problem] of broken)
      this.opts.log?.error({ intent: id, problem }, `intent ${id} not published`);
    try {
      const result = await publishRendered(async (checkout) => {
        const kept = broken.size ? await publishedExpectations(checkout, new Set(broken.keys())) : [];
        const expectations = [...publishable.flatMap((p) => p.expectations), ...kept];
        return {
          tree: renderTree(expectations),
          expectationIds: expectations.map((e) => e.intentExpectationId),
        };
      }, this.opts.publish);
      for (const { r, expectations } of publishable) {
        // A status the edge reported stands unless this intent's own content changed.
        const digest = digestOf(expectations);
        if (r.commit && r.publishedDigest === digest && r.lifecycleStatus !== 'acknowledged') continue;
        await this.save(
          r,
          'inProgress',
          `published in commit ${result.commit}; waiting for the edge`,
          (x) => {
            x.commit = result.commit;
            x.publishedDigest = digest;
          },
        );
      }
      for (const r of records.filter((x) => broken.has(x.id))) {
        const message = `${broken.get(r.id)}; ${KEPT}`;
        if (r.lifecycleStatus !== 'failed' || r.statusMessage !== message)
          await this.save(r, 'failed', message, forgetPublished);
      }
      this.opts.log?.info(
        { commit: result.commit, intents: publishable.length, changed: result.changed },
        'published',
      );
    } catch (err) {
      this.opts.log?.error({ err }, 'publish failed');
      for (const { r } of publishable.filter((x) => x.r.lifecycleStatus === 'acknowledged'))
        await this.save(r, 'failed', `${PUSH_FAILED}: ${(err as Error).message}`);
      throw err;
    }
  }

  /** The record with its status from the edge; undefined when it was withdrawn meanwhile. */
  private async refresh(r: IntentRecord): Promise<IntentRecord | undefined> {
    let expectations: IntentExpectation[];
    try {
      expectations = translateIntent(r.intent);
    } catch (err) {
      // Edited by hand into one that does not translate: said now, not only after the next publish.
      const message = `${untranslatable(this.opts.store.where(r.id), err)}; ${KEPT}`;
      if (r.lifecycleStatus === 'failed' && r.statusMessage === message) return r;
      return this.save(r, 'failed', message, forgetPublished);
    }
    if (r.publishedDigest !== digestOf(expectations) && !r.statusMessage.startsWith(PUSH_FAILED)) {
      // Repaired, or edited by hand, since it was last published: nothing else would publish it
      // until an unrelated request, so this GET does (a failed push is retried already).
      this.publishSoon();
      if (r.lifecycleStatus === 'acknowledged') return r;
      if (r.lifecycleStatus === 'inProgress' && r.statusMessage === ACCEPTED) return r;
      return this.save(r, 'inProgress', ACCEPTED);
    }
    if (!this.opts.edge || !r.commit || r.lifecycleStatus === 'acknowledged') return r;
    const report = await edgeReport(this.opts.edge, r.id, expectations).catch((err: Error) => ({
      status: r.lifecycleStatus as 'inProgress',
      message: `the edge cannot be read: ${err.message}`,
    }));
    if (report.status === r.lifecycleStatus && report.message === r.statusMessage) return r;
    return this.save(r, report.status, report.message);
  }

  /**
   * Writes a status (and `change`) onto the record as it was read. The store may have moved on since:
   * an intent withdrawn, posted again (another ConfigMap) or edited by hand is newer, and stands; the
   * status is not written and what is stored now is returned (undefined once withdrawn). Only a
   * status written meanwhile, on the same intent, is written over: it says nothing newer.
   */
  private async save(
    r: IntentRecord,
    status: LifecycleStatus,
    message: string,
    change: (r: IntentRecord) => void = () => {},
  ): Promise<IntentRecord | undefined> {
    for (let current = r; ; ) {
      const at = now();
      if (status !== current.lifecycleStatus) current.statusChangeDate = at;
      current.lifecycleStatus = status;
      current.statusMessage = message;
      current.lastUpdate = at;
      change(current);
      try {
        await this.opts.store.save(current);
        return current;
      } catch (err) {
        if (!(err instanceof StaleRecordError)) throw err;
      }
      const stored = await this.opts.store.get(r.id);
      if (!stored) return undefined;
      if ('problem' in stored) return unreadableRecord(stored);
      if (!this.opts.store.sameObject(stored, r) || !isDeepStrictEqual(stored.intent, r.intent))
        return stored;
      current = stored;
    }
  }
}
