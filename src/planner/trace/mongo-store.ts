import type { Collection, MongoClient as MongoClientType } from 'mongodb';
import type { FittedModel, PlanningEvent, TraceStore } from './store.js';

export interface MongoTraceStoreOptions {
  /** Database when the URI names none; IDO keeps its traces in "intents". */
  database?: string;
  /** How long to look for a server before giving up (connecting, and each operation). */
  serverSelectionTimeoutMs?: number;
}

/** The URI without its password, for messages and logs. */
export function redactUri(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/[^:/@]+):[^@/]*@/, '$1:***@');
}

/** The database a connection string names in its path, if any. */
function databaseOf(uri: string): string | undefined {
  const name = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]*)/.exec(uri)?.[1];
  return name ? decodeURIComponent(name) : undefined;
}

/**
 * The seed's trace store: MongoDB through the official driver. Events go to `events`, fitted
 * models to `models`; both are indexed for what the actuators ask (an intent's latest `look_back`
 * events; the latest model of an intent, actuator and objective). "Latest" is the order of
 * recording (`_id`, which the driver makes increasing), as in the embedded store.
 */
export class MongoTraceStore implements TraceStore {
  private constructor(
    private readonly client: MongoClientType,
    private readonly events: Collection<PlanningEvent>,
    private readonly models: Collection<FittedModel>,
  ) {}

  static async open(uri: string, opts: MongoTraceStoreOptions = {}): Promise<MongoTraceStore> {
    // Loaded only when selected: the embedded store must not need the driver.
    const { MongoClient } = await import('mongodb');
    const where = `MongoDB trace store at ${redactUri(uri)}`;
    let client: MongoClientType;
    try {
      client = new MongoClient(uri, {
        serverSelectionTimeoutMS: opts.serverSelectionTimeoutMs ?? 10_000,
        appName: 'tutti-planner',
      });
    } catch (err) {
      throw new Error(`${where}: invalid endpoint: ${(err as Error).message}`);
    }
    try {
      await client.connect();
      const db = client.db(databaseOf(uri) ?? opts.database ?? 'intents');
      const events = db.collection<PlanningEvent>('events');
      const models = db.collection<FittedModel>('models');
      await events.createIndex({ intent: 1, _id: -1 }, { name: 'intent_recent' });
      await models.createIndex(
        { intent: 1, actuator: 1, objective: 1, _id: -1 },
        { name: 'intent_actuator_objective_latest' },
      );
      return new MongoTraceStore(client, events, models);
    } catch (err) {
      await client.close().catch(() => {});
      throw new Error(`${where}: cannot connect: ${(err as Error).message}`);
    }
  }

  async recordEvent(event: PlanningEvent): Promise<void> {
    // A copy: the driver adds _id to the document it is given.
    await this.events.insertOne({ ...event });
  }

  async recentEvents(intent: string, limit: number): Promise<PlanningEvent[]> {
    if (limit <= 0) return [];
    return this.events
      .find({ intent }, { projection: { _id: 0 } })
      .sort({ _id: -1 })
      .limit(limit)
      .toArray() as Promise<PlanningEvent[]>;
  }

  async recordModel(model: FittedModel): Promise<void> {
    await this.models.insertOne({ ...model });
  }

  async latestModel(intent: string, actuator: string, objective: string): Promise<FittedModel | undefined> {
    const found = await this.models.findOne(
      { intent, actuator, objective },
      { projection: { _id: 0 }, sort: { _id: -1 } },
    );
    return (found as FittedModel | null) ?? undefined;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
