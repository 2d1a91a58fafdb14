import { appendFile, mkdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { componentLogger, type Logger } from '../../runtime/log.js';
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

  /**
   * Opens (creating) the store in `dir`. A last line cut short by a crash mid-append is cut off
   * the file, with a warning, so that the next append starts on a line of its own; a complete
   * line that is not a record is corruption, and refused.
   */
  static async open(
    dir: string,
    log: Logger = componentLogger('planner-traces'),
  ): Promise<JsonLinesTraceStore> {
    await mkdir(dir, { recursive: true });
    const store = new JsonLinesTraceStore(dir);
    for (const e of await readLines<PlanningEvent>(join(dir, 'events.jsonl'), log)) store.indexEvent(e);
    for (const m of await readLines<FittedModel>(join(dir, 'models.jsonl'), log)) store.indexModel(m);
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

async function readLines<T>(file: string, log: Logger): Promise<T[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  // Every record is written with its newline in one append: bytes after the last newline are
  // the rest of an append a crash interrupted.
  const end = bytes.lastIndexOf(0x0a) + 1;
  let tail: T | undefined;
  if (end < bytes.length) {
    try {
      tail = JSON.parse(bytes.subarray(end).toString('utf8')) as T;
    } catch {
      // No proper prefix of a JSON object parses: the record is incomplete, and dropped.
    }
    if (tail !== undefined) {
      // Written in full but for its newline: kept, and its line ended.
      await appendFile(file, '\n');
    } else {
      // Left in place, it would run into the next record appended, and corrupt both.
      await truncate(file, end);
      log.warn(
        { file, droppedBytes: bytes.length - end },
        `trace store ${file}: dropped ${bytes.length - end} bytes of a record cut short (the process stopped mid-append)`,
      );
    }
  }
  const lines = bytes.subarray(0, end).toString('utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw new Error(
        `${file}:${i + 1}: not a JSON record (${(err as Error).message}); only a last line cut short is dropped on open, so the file needs repair by hand`,
      );
    }
  }
  if (tail !== undefined) out.push(tail);
  return out;
}
