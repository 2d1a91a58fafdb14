import type { Logger } from '../../runtime/log.js';
import { JsonLinesTraceStore } from './jsonl-store.js';
import { MongoTraceStore } from './mongo-store.js';
import type { TraceStore } from './store.js';

export interface TraceStoreChoice {
  /** IDO's `generic.mongo_endpoint`: a mongodb:// URI selects MongoDB; empty, the embedded store. */
  mongoEndpoint: string;
  /** Where the embedded store keeps its files. */
  traceDir: string;
  /** Where the embedded store warns of a record a crash cut short (dropped on open). */
  log?: Logger;
}

/** Opens the trace store the configuration selects; a MongoDB that cannot be reached is an error. */
export async function openTraceStore(choice: TraceStoreChoice): Promise<TraceStore> {
  return choice.mongoEndpoint.trim()
    ? MongoTraceStore.open(choice.mongoEndpoint.trim())
    : JsonLinesTraceStore.open(choice.traceDir, choice.log);
}
