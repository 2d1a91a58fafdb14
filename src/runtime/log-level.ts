import { pino } from 'pino';

/** The levels TUTTI_LOG_LEVEL may name: pino's, from most to least said, and `silent`. */
export const LOG_LEVELS: readonly string[] = [
  ...Object.entries(pino.levels.values)
    .sort(([, a], [, b]) => a - b)
    .map(([label]) => label),
  'silent',
];

/** The level used when TUTTI_LOG_LEVEL is unset or empty (an empty value is no value). */
export const DEFAULT_LOG_LEVEL = 'info';

/**
 * What is wrong with `value` as TUTTI_LOG_LEVEL, e.g. `TUTTI_LOG_LEVEL=loud: expected one of
 * trace, …, silent`; undefined when it names a level or is unset or empty.
 */
export function logLevelProblem(value: string | undefined): string | undefined {
  if (value === undefined || value === '' || LOG_LEVELS.includes(value)) return undefined;
  return `TUTTI_LOG_LEVEL=${value}: expected one of ${LOG_LEVELS.join(', ')}`;
}

/**
 * The level TUTTI_LOG_LEVEL names, DEFAULT_LOG_LEVEL when it is unset or empty. Any other value
 * throws an Error saying so (logLevelProblem's message), rather than pino's own error about an
 * unknown level, which names neither the variable nor the levels allowed.
 */
export function logLevelOf(env: NodeJS.ProcessEnv = process.env): string {
  const value = env['TUTTI_LOG_LEVEL'];
  const problem = logLevelProblem(value);
  if (problem) throw new Error(problem);
  return value || DEFAULT_LOG_LEVEL;
}
