import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { KubeClient } from '../../runtime/client/client.js';
import { ConflictError, NotFoundError } from '../../runtime/client/errors.js';
import { ConfigMaps } from '../../runtime/client/kinds.js';
import type { IntentRecord } from './intent.js';

/** A stored intent whose record cannot be read: its ConfigMap was edited by hand. */
export interface UnreadableIntent {
  readonly id: string;
  /** What is wrong, naming the ConfigMap. */
  readonly problem: string;
  readonly created?: string;
}

/** The stored intent changed since it was read: withdrawn, posted again, or written by another. */
export class StaleRecordError extends Error {
  override name = 'StaleRecordError';
}

export const LABEL_TMF921 = 'intent.tutti.dev/tmf921';
const KEY = 'intent.json';

/**
 * Intents kept as ConfigMaps on the SMO cluster (`tmf921-intent-<id>`), so the service can restart
 * without losing them: every publish renders all stored intents, and a forgotten one would be
 * pruned from the edge.
 */
export class IntentStore {
  /** The ConfigMap each record was read from or last written as: what a save is conditioned on. */
  private readonly basis = new WeakMap<IntentRecord, ConfigMap>();

  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  private name(id: string): string {
    return `tmf921-intent-${id}`;
  }

  /** Every stored intent, and the ConfigMaps whose record cannot be read (edited by hand). */
  async scan(): Promise<{ records: IntentRecord[]; unreadable: UnreadableIntent[] }> {
    const cms = await this.client.listAll(ConfigMaps, {
      namespace: this.namespace,
      labelSelector: `${LABEL_TMF921}=true`,
    });
    const records: IntentRecord[] = [];
    const unreadable: UnreadableIntent[] = [];
    for (const cm of cms.items) {
      const read = this.read(cm);
      if ('problem' in read) unreadable.push(read);
      else records.push(read);
    }
    records.sort((a, b) => a.creationDate.localeCompare(b.creationDate) || a.id.localeCompare(b.id));
    return { records, unreadable };
  }

  async list(): Promise<IntentRecord[]> {
    return (await this.scan()).records;
  }

  async get(id: string): Promise<IntentRecord | UnreadableIntent | undefined> {
    const cm = await this.client.find(ConfigMaps, this.name(id), this.namespace);
    return cm && this.read(cm);
  }

  /** `<namespace>/<name>` of an intent's ConfigMap, as a user would look it up. */
  where(id: string): string {
    return `ConfigMap ${this.namespace}/${this.name(id)}`;
  }

  private read(cm: ConfigMap): IntentRecord | UnreadableIntent {
    const id = cm.metadata!.name!.slice(this.name('').length);
    const problem = (message: string) => ({
      id,
      problem: `${this.where(id)}: ${message}`,
      created: cm.metadata?.creationTimestamp,
    });
    const text = cm.data?.[KEY];
    if (text === undefined) return problem(`has no ${KEY}`);
    let r: unknown;
    try {
      r = JSON.parse(text);
    } catch (err) {
      return problem(`${KEY} is not valid JSON: ${(err as Error).message}`);
    }
    const record = r as Partial<IntentRecord> | null;
    if (
      typeof record !== 'object' ||
      record === null ||
      typeof record.intent !== 'object' ||
      record.id !== id
    )
      return problem(`${KEY} is not an intent record of id ${id}`);
    this.basis.set(record as IntentRecord, cm);
    return record as IntentRecord;
  }

  /** Creates the record; AlreadyExistsError when the id is taken. */
  async create(r: IntentRecord): Promise<void> {
    this.basis.set(r, await this.client.create<ConfigMap>(this.configMap(r)));
  }

  /**
   * Writes the record over the ConfigMap it was read from, only while that is unchanged (its
   * resourceVersion, which a ConfigMap deleted and created again does not keep either); otherwise
   * StaleRecordError, so that a writer holding an old copy never overwrites a newer intent or brings
   * a withdrawn one back.
   */
  async save(r: IntentRecord): Promise<void> {
    const basis = this.basis.get(r);
    if (!basis) throw new Error(`intent ${r.id}: only a record read from the store can be saved`);
    try {
      const saved = await this.client.replace<ConfigMap>({
        ...basis,
        apiVersion: 'v1',
        kind: 'ConfigMap',
        data: { ...basis.data, [KEY]: JSON.stringify(r) },
      });
      this.basis.set(r, saved);
    } catch (err) {
      if (err instanceof ConflictError || err instanceof NotFoundError)
        throw new StaleRecordError(`${this.where(r.id)} changed since it was read: ${err.message}`);
      throw err;
    }
  }

  /** Whether two records were read from the same ConfigMap, not one deleted and created again. */
  sameObject(a: IntentRecord, b: IntentRecord): boolean {
    const uid = this.basis.get(a)?.metadata?.uid;
    return uid !== undefined && uid === this.basis.get(b)?.metadata?.uid;
  }

  async delete(id: string): Promise<boolean> {
    return this.client.delete(ConfigMaps, this.name(id), this.namespace);
  }

  private configMap(r: IntentRecord): ConfigMap {
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: this.name(r.id), namespace: this.namespace, labels: { [LABEL_TMF921]: 'true' } },
      data: { [KEY]: JSON.stringify(r) },
    };
  }
}
