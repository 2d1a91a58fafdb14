import { writeSync } from 'node:fs';
import { type Logger, pino } from 'pino';
import { logLevelOf } from './log-level.js';

export type { Logger };

/** How log lines read: JSON for machines (a Pod's log), text for a person at a terminal. */
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];

/** TUTTI_LOG_FORMAT when it names a format, else text on a terminal and JSON anywhere else. */
export function defaultLogFormat(
  env: string | undefined = process.env['TUTTI_LOG_FORMAT'],
  terminal = process.stderr.isTTY === true,
): LogFormat {
  if (LOG_FORMATS.includes(env as LogFormat)) return env as LogFormat;
  return terminal ? 'text' : 'json';
}

let format = defaultLogFormat();

/** Sets how the lines written from now on read (a command's --log-format). */
export function setLogFormat(f: LogFormat): void {
  format = f;
}

/** A value as `key=value` shows it: bare when it reads unambiguously, else quoted as JSON. */
function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && 'message' in v && 'type' in v) {
    return JSON.stringify((v as { message: unknown }).message);
  }
  return JSON.stringify(v);
}

/**
 * One JSON log line as a person reads it: `09:38:42.169 INFO  operator caches synced
 * informers=15`; local time, level, component, message, then the other fields as key=value.
 */
export function textLogLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json);
  } catch {
    return json;
  }
  const { time, level, component, msg, ...rest } = rec;
  const when = typeof time === 'string' ? new Date(time) : new Date();
  const clock = `${when.toTimeString().slice(0, 8)}.${String(when.getMilliseconds()).padStart(3, '0')}`;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${textValue(v)}`);
  const head = [
    clock,
    String(level ?? '')
      .toUpperCase()
      .padEnd(5),
    component,
    msg,
  ].filter((p) => p !== undefined && p !== '');
  return `${[...head, ...fields].join(' ')}\n`;
}

const LOG_FLUSH_MS = 100;
const LOG_FLUSH_BYTES = 16 * 1024;

/**
 * stderr, with the lines of up to LOG_FLUSH_MS gathered into one write: under load a write per
 * line costs more than the line, and pino's own buffered destination allocates kilobytes per line
 * as it accumulates. Writes are synchronous, so lines keep their order and the exit handler can
 * write what is left; a process killed outright loses at most the last LOG_FLUSH_MS of lines.
 */
class StderrSink {
  private lines: string[] = [];
  private size = 0;

  write(json: string): void {
    const line = format === 'text' ? textLogLine(json) : json;
    this.lines.push(line);
    this.size += line.length;
    if (this.size >= LOG_FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const chunk = Buffer.from(this.lines.join(''));
    this.lines = [];
    this.size = 0;
    writeAll(2, chunk);
  }
}

/** Waited on for a millisecond while stderr is a full non-blocking pipe. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `chunk`, waiting out a full non-blocking pipe; a closed one drops the logs. */
function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) {
    try {
      off += writeSync(fd, chunk, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const sink = new StderrSink();
setInterval(() => sink.flush(), LOG_FLUSH_MS).unref();
process.on('exit', () => sink.flush());

/** Writes buffered log lines now, e.g. before printing a final error. */
export function flushLogs(): void {
  sink.flush();
}

/**
 * The process-wide structured logger: lines on stderr (JSON, or text on a terminal; see
 * defaultLogFormat), level from TUTTI_LOG_LEVEL (default info, also when empty). Components take
 * a child logger carrying their name; reconciles add controller, key and reconcile id. A
 * TUTTI_LOG_LEVEL naming no level makes loading this module throw, naming the variable, its
 * value and the levels allowed.
 */
export const rootLogger: Logger = pino(
  {
    level: logLevelOf(),
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  sink,
);

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
