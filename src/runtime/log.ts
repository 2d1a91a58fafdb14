import { writeSync } from 'node:fs';
import { type Logger, pino } from 'pino';

export type { Logger };

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

  write(line: string): void {
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
 * The process-wide structured logger: JSON lines on stderr, level from TUTTI_LOG_LEVEL (default
 * info). Components take a child logger carrying their name; reconciles add controller, key and
 * reconcile id.
 */
export const rootLogger: Logger = pino(
  {
    level: process.env['TUTTI_LOG_LEVEL'] ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  sink,
);

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
