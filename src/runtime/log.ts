import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * stderr, written in chunks of at least 4 KB or every LOG_FLUSH_MS: under load a write per line
 * costs more than the line. Pino flushes what is buffered when the process exits.
 */
const destination = pino.destination({ dest: 2, sync: false, minLength: 4096 });
const LOG_FLUSH_MS = 100;
setInterval(() => destination.flush(), LOG_FLUSH_MS).unref();

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
  destination,
);

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
