import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FittedModel, PlanningEvent, TraceStore } from './store.js';

/**
 * The embedded trace store: append-only JSON lines (events.jsonl, models.jsonl) in one directory,
 * indexed in memory by intent on open, so reads never rescan the files. No server needed.
 */
export class JsonLinesTraceStore implements TraceStore {
  private readonly events = new Map<string, PlanningEvent[]>();
  private readonly models = new Map<string, FittedModel>();
  private writes: Promise<void> = Promise.resolve();

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<JsonLinesTraceStore> {
    await mkdir(dir, { recursive: true });
    const store = new JsonLinesTraceStore(dir);
    for (const e of await readLines<PlanningEvent>(join(dir, 'events.jsonl'))) store.indexEvent(e);
    for (const m of await readLines<FittedModel>(join(dir, 'models.jsonl'))) store.indexModel(m);
    return store;
  }

  async recordEvent(event: PlanningEvent): Promise<void> {
    this.indexEvent(event);
    await this.append('events.jsonl', event);
  }

  async recentEvents(intent: string, limit: number): Promise<PlanningEvent[]> {
    if (limit <= 0) return [];
    return (this.events.get(intent) ?? []).slice(-limit).reverse();
  }

  async recordModel(model: FittedModel): Promise<void> {
    this.indexModel(model);
    await this.append('models.jsonl', model);
  }

  async latestModel(intent: string, actuator: string, objective: string): Promise<FittedModel | undefined> {
    return this.models.get(`${intent}\0${actuator}\0${objective}`);
  }

  async close(): Promise<void> {
    await this.writes;
  }

  private indexEvent(e: PlanningEvent): void {
    const list = this.events.get(e.intent);
    if (list) list.push(e);
    else this.events.set(e.intent, [e]);
  }

  private indexModel(m: FittedModel): void {
    this.models.set(`${m.intent}\0${m.actuator}\0${m.objective}`, m);
  }

  /**
   * Appends one line; writes are serialised so that lines never interleave. A failed write (a
   * full disk) is its caller's to hear of; the chain goes on, so the writes after it are tried.
   */
  private append(file: string, record: unknown): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const write = this.writes.then(() => appendFile(join(this.dir, file), line));
    this.writes = write.catch(() => {});
    return write;
  }
}

async function readLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // Only a last line cut short by a crash is forgiven; anything else is corruption.
      if (i === lines.length - 1) break;
      throw new Error(`${file}:${i + 1}: not a JSON record`);
    }
  }
  return out;
}
