import { type Logger, pino } from 'pino';

export type { Logger };

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
  pino.destination({ dest: 2, sync: false }),
);

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
