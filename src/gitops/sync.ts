import { mkdir } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition } from 'kubernetes-types/meta/v1.js';
import { Counter, Gauge, Histogram } from 'prom-client';
import { type GitSync, type GitSyncStatus, GitSyncs, type InventoryEntry } from '../apis/tutti/gitsync.js';
import type { KubeClient } from '../runtime/client/client.js';
import { ApiError, InvalidError } from '../runtime/client/errors.js';
import { type KubeObject, kind } from '../runtime/client/types.js';
import { installCrds } from '../runtime/crds.js';
import { metricsRegistry } from '../runtime/health-server.js';
import type { Logger } from '../runtime/log.js';
import type { SourcedObject } from './conform.js';
import { type GitCredentials, GitError, git } from './git.js';
import { readSource } from './sync-source.js';

/** Label on every object a GitSync applied: only these may it prune. */
export const LABEL_SYNCED_BY = 'gitops.tutti.dev/synced-by';
/** Config Sync's default pull period, as in the seed's RootSync. */
export const DEFAULT_PERIOD_MS = 30_000;

export interface EdgeSyncOptions {
  /** The GitSync resource that carries this sync's status. */
  readonly name: string;
  readonly repo: string;
  readonly branch: string;
  /** Directory inside the repository; `/` is the whole repository. */
  readonly dir: string;
  readonly periodMs: number;
  readonly credentials?: GitCredentials;
  /** Where the repository is checked out. */
  readonly cacheDir: string;
  readonly log?: Logger;
}

export interface SyncOutcome {
  readonly commit?: string;
  readonly objects: number;
  readonly pruned: number;
  readonly errors: readonly string[];
}

const runs = new Counter({
  name: 'tutti_gitsync_runs_total',
  help: 'Sync attempts by result (success, error).',
  labelNames: ['sync', 'result'],
  registers: [metricsRegistry],
});
const objectsGauge = new Gauge({
  name: 'tutti_gitsync_objects',
  help: 'Objects applied from the last synced commit.',
  labelNames: ['sync'],
  registers: [metricsRegistry],
});
const errorsGauge = new Gauge({
  name: 'tutti_gitsync_errors',
  help: 'Errors in the last sync attempt.',
  labelNames: ['sync'],
  registers: [metricsRegistry],
});
const lastSuccess = new Gauge({
  name: 'tutti_gitsync_last_success_timestamp_seconds',
  help: 'When the last sync without errors finished.',
  labelNames: ['sync'],
  registers: [metricsRegistry],
});
const duration = new Histogram({
  name: 'tutti_gitsync_duration_seconds',
  help: 'Time of one sync attempt: fetch, apply, prune, status.',
  labelNames: ['sync'],
  registers: [metricsRegistry],
});

/** Apply order: namespaces and CRDs before what lives in them; prune runs it backwards. */
function rank(o: { kind?: string }): number {
  return o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2;
}

/** What a YAML document lacks to name an object, or undefined when it names one. */
function missingIdentity(o: unknown): string | undefined {
  const naming = 'every document must name its object (apiVersion, kind, metadata.name)';
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    return `is ${Array.isArray(o) ? 'a list' : o === null ? 'null' : `a ${typeof o}`}, not an object; ${naming}`;
  const k = o as KubeObject;
  const filled = (v: unknown) => typeof v === 'string' && v !== '';
  const missing = [
    filled(k.apiVersion) ? '' : 'apiVersion',
    filled(k.kind) ? '' : 'kind',
    filled(k.metadata?.name) ? '' : 'metadata.name',
  ].filter(Boolean);
  return missing.length ? `has no ${missing.join(', ')}; ${naming}` : undefined;
}

function entryOf(o: KubeObject): InventoryEntry {
  return {
    apiVersion: o.apiVersion!,
    kind: o.kind!,
    ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata!.name!,
  };
}

/**
 * An object's identity: its group, not its version, since one object is served at every version of
 * its group — an object moved from `autoscaling/v1` to `autoscaling/v2` in git is still the same.
 */
function entryKey(e: InventoryEntry): string {
  const group = e.apiVersion.includes('/') ? e.apiVersion.slice(0, e.apiVersion.lastIndexOf('/')) : '';
  return `${group}/${e.kind}/${e.namespace ?? ''}/${e.name}`;
}

/**
 * Pulls a git repository and applies it to the cluster with server-side apply, like Config Sync's
 * RootSync: every period, fetch the branch, apply what is in `dir`, prune what left it (only
 * objects this sync applied: labelled and in its inventory), and report commit, time, objects and
 * errors on a `tutti.dev` GitSync and in metrics. A periodic loop, not a watch-driven controller.
 */
export class EdgeSyncer {
  private checkedOut = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: EdgeSyncOptions,
  ) {}

  /** Creates or updates the GitSync resource with this sync's spec. */
  async register(): Promise<void> {
    await this.client.apply<GitSync>({
      apiVersion: 'tutti.dev/v1alpha1',
      kind: 'GitSync',
      metadata: { name: this.opts.name },
      spec: {
        repo: this.opts.repo,
        branch: this.opts.branch,
        dir: this.opts.dir,
        period: `${this.opts.periodMs / 1000}s`,
      },
    });
  }

  /** Syncs until `signal` aborts; each failure is reported in status and retried next period. */
  async run(signal: AbortSignal): Promise<void> {
    await this.register();
    while (!signal.aborted) {
      await this.syncOnce().catch((err) => this.opts.log?.error({ err }, 'sync failed'));
      await delay(this.opts.periodMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async syncOnce(): Promise<SyncOutcome> {
    const stop = duration.startTimer({ sync: this.opts.name });
    try {
      return await this.attempt(stop);
    } catch (err) {
      // The edge's API server did not answer, or refused: no status could say so, the metrics must.
      const labels = { sync: this.opts.name };
      runs.inc({ ...labels, result: 'error' });
      errorsGauge.set(labels, 1);
      stop();
      throw err;
    }
  }

  /** The GitSync; one deleted while the sync runs is created again, or the sync would stop for good. */
  private async gitSync(): Promise<GitSync> {
    const found = await this.client.find(GitSyncs, this.opts.name);
    if (found) return found;
    this.opts.log?.warn({}, 'the GitSync was deleted: created again, with an empty inventory');
    await this.register();
    return this.client.get(GitSyncs, this.opts.name);
  }

  private async attempt(stop: () => void): Promise<SyncOutcome> {
    const current = await this.gitSync();
    const previous = current.status ?? {};
    // Nothing of the commit was applied: the status keeps describing what is, with the errors.
    const unapplied = (errors: string[], reason: string) =>
      this.report(
        current,
        previous,
        { commit: previous.commit, objects: previous.objects ?? 0, pruned: 0, errors },
        reason,
        previous.inventory ?? [],
        stop,
      );
    let commit: string;
    try {
      commit = await this.fetch();
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      const reason = { auth: 'GitAuthFailed', unreachable: 'GitUnreachable', 'not-found': 'GitRepoNotFound' }[
        err.failure as string
      ];
      return unapplied([err.message], reason ?? 'GitError');
    }

    let objects: SourcedObject[];
    try {
      objects = await readSource(this.opts.cacheDir, this.opts.dir);
    } catch (err) {
      return unapplied([`commit ${commit.slice(0, 12)}: ${(err as Error).message}`], 'SourceInvalid');
    }

    // A document that names no object cannot be applied, nor matched to what it was before: skipped,
    // the object it used to be would be pruned. The commit is refused instead, like one that is not YAML.
    const unnamed = objects.flatMap((s) => {
      const missing = missingIdentity(s.object);
      return missing ? [`${s.file}#${s.index + 1}: ${missing}`] : [];
    });
    if (unnamed.length)
      return unapplied(
        unnamed.map((u) => `commit ${commit.slice(0, 12)}: ${u}`),
        'SourceInvalid',
      );

    const errors: string[] = [];
    const toApply: { source: SourcedObject; obj: KubeObject }[] = [];
    for (const s of [...objects].sort((a, b) => rank(a.object) - rank(b.object))) {
      const obj = structuredClone(s.object) as KubeObject & { metadata: { name: string } };
      obj.metadata.labels = { ...obj.metadata.labels, [LABEL_SYNCED_BY]: this.opts.name };
      toApply.push({ source: s, obj });
    }
    await this.recordBeforeApply(
      current,
      toApply.map((a) => entryOf(a.obj)),
    );

    const applied: InventoryEntry[] = [];
    const crds: CustomResourceDefinition[] = [];
    for (const { source: s, obj } of toApply) {
      // Custom resources of a CRD applied in this pass need its API served first.
      if (rank(obj) === 2 && crds.length) await this.establish(crds.splice(0), errors);
      applied.push(entryOf(obj));
      try {
        await this.client.apply(obj);
        if (obj.kind === 'CustomResourceDefinition') crds.push(obj as CustomResourceDefinition);
      } catch (err) {
        const e = entryOf(obj);
        errors.push(`${s.file}#${s.index + 1} ${e.kind} ${e.namespace ?? ''}/${e.name}: ${describe(err)}`);
      }
    }
    if (crds.length) await this.establish(crds, errors);

    const keep = new Set(applied.map(entryKey));
    const stale = (previous.inventory ?? [])
      .filter((e) => !keep.has(entryKey(e)))
      .sort((a, b) => rank(b) - rank(a));
    let pruned = 0;
    for (const e of stale) {
      try {
        const k = kind(e.apiVersion, e.kind);
        const live = await this.client.find(k, e.name, e.namespace);
        if (live?.metadata?.labels?.[LABEL_SYNCED_BY] !== this.opts.name) continue;
        if (await this.client.delete(k, e.name, e.namespace, { propagationPolicy: 'Background' })) pruned++;
      } catch (err) {
        errors.push(`prune ${e.kind} ${e.namespace ?? ''}/${e.name}: ${describe(err)}`);
        applied.push(e);
      }
    }
    return this.report(
      current,
      previous,
      { commit, objects: objects.length, pruned, errors },
      errors.length ? 'ApplyFailed' : 'Synced',
      applied,
      stop,
    );
  }

  /**
   * Adds what this pass is about to apply to the inventory before applying it, so that a sync
   * killed between the apply and its status write still prunes those objects once they leave git.
   * The status after the pass narrows the inventory to what the commit holds.
   */
  private async recordBeforeApply(current: GitSync, planned: InventoryEntry[]): Promise<void> {
    const inventory = current.status?.inventory ?? [];
    const known = new Set(inventory.map(entryKey));
    const added = planned.filter((e) => !known.has(entryKey(e)) && known.add(entryKey(e)));
    if (!added.length) return;
    // The whole status, not only the inventory: server-side apply drops the fields a manager stops sending.
    await this.client.applyStatus<GitSync>({
      apiVersion: 'tutti.dev/v1alpha1',
      kind: 'GitSync',
      metadata: { name: this.opts.name },
      status: { ...current.status, inventory: [...inventory, ...added] },
    } as GitSync);
  }

  /** Waits for CRDs this pass applied to be served; one that is not is an error of the sync. */
  private async establish(crds: CustomResourceDefinition[], errors: string[]): Promise<void> {
    try {
      await installCrds(this.client, crds);
    } catch (err) {
      errors.push(describe(err));
    }
  }

  private async report(
    current: GitSync,
    previous: GitSyncStatus,
    outcome: SyncOutcome,
    reason: string,
    inventory: InventoryEntry[],
    stop: () => void,
  ): Promise<SyncOutcome> {
    const ok = outcome.errors.length === 0;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const message = ok
      ? `applied ${outcome.objects} objects from ${outcome.commit?.slice(0, 12)}${outcome.pruned ? `, pruned ${outcome.pruned}` : ''}`
      : outcome.errors.join('; ').slice(0, 1000);
    const old = previous.conditions?.find((c) => c.type === 'Synced');
    const status = ok ? 'True' : 'False';
    const condition: Condition = {
      type: 'Synced',
      status,
      reason,
      message,
      observedGeneration: current.metadata.generation,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
    };
    await this.client.applyStatus<GitSync>({
      apiVersion: 'tutti.dev/v1alpha1',
      kind: 'GitSync',
      metadata: { name: this.opts.name },
      status: {
        observedGeneration: current.metadata.generation,
        ...(outcome.commit ? { commit: outcome.commit } : {}),
        lastSyncTime: now,
        objects: outcome.objects,
        errors: [...outcome.errors],
        conditions: [condition],
        inventory,
      },
    } as GitSync);
    const labels = { sync: this.opts.name };
    runs.inc({ ...labels, result: ok ? 'success' : 'error' });
    objectsGauge.set(labels, outcome.objects);
    errorsGauge.set(labels, outcome.errors.length);
    if (ok) lastSuccess.set(labels, Date.now() / 1000);
    stop();
    const fields = {
      commit: outcome.commit,
      objects: outcome.objects,
      pruned: outcome.pruned,
      errors: outcome.errors,
    };
    if (ok) this.opts.log?.info(fields, reason);
    else this.opts.log?.warn(fields, reason);
    return outcome;
  }

  /** Fetches the branch into the cache and checks it out; returns the commit. */
  private async fetch(): Promise<string> {
    const dir = this.opts.cacheDir;
    if (!this.checkedOut) {
      await mkdir(dir, { recursive: true });
      await git(['init', '--quiet', dir]);
      this.checkedOut = true;
    }
    const remote = { cwd: dir, credentials: this.opts.credentials, remote: this.opts.repo };
    await git(['fetch', '--quiet', '--depth=1', this.opts.repo, `refs/heads/${this.opts.branch}`], remote);
    await git(['checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'], { cwd: dir });
    await git(['clean', '--quiet', '-d', '--force', '-x'], { cwd: dir });
    return (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  }
}

function describe(err: unknown): string {
  if (err instanceof InvalidError && err.causes.length)
    return err.causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  if (err instanceof ApiError) return err.message;
  return (err as Error).message;
}
