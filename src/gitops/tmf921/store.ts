import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { KubeClient } from '../../runtime/client/client.js';
import { ConfigMaps } from '../../runtime/client/kinds.js';
import type { IntentRecord } from './intent.js';

export const LABEL_TMF921 = 'intent.tutti.dev/tmf921';
const KEY = 'intent.json';

/**
 * Intents kept as ConfigMaps on the SMO cluster (`tmf921-intent-<id>`), so the service can restart
 * without losing them: every publish renders all stored intents, and a forgotten one would be
 * pruned from the edge.
 */
export class IntentStore {
  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  private name(id: string): string {
    return `tmf921-intent-${id}`;
  }

  async list(): Promise<IntentRecord[]> {
    const cms = await this.client.listAll(ConfigMaps, {
      namespace: this.namespace,
      labelSelector: `${LABEL_TMF921}=true`,
    });
    return cms.items
      .map((cm) => JSON.parse(cm.data?.[KEY] ?? '{}') as IntentRecord)
      .sort((a, b) => a.creationDate.localeCompare(b.creationDate) || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<IntentRecord | undefined> {
    const cm = await this.client.find(ConfigMaps, this.name(id), this.namespace);
    return cm ? (JSON.parse(cm.data?.[KEY] ?? '{}') as IntentRecord) : undefined;
  }

  /** Creates the record; AlreadyExistsError when the id is taken. */
  async create(r: IntentRecord): Promise<void> {
    await this.client.create<ConfigMap>(this.configMap(r));
  }

  async save(r: IntentRecord): Promise<void> {
    await this.client.apply<ConfigMap>(this.configMap(r));
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
