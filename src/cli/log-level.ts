import { pino } from 'pino';

/** The levels TUTTI_LOG_LEVEL may name: pino's, from most to least said, and `silent`. */
export const LOG_LEVELS: readonly string[] = [
  ...Object.entries(pino.levels.values)
    .sort(([, a], [, b]) => a - b)
    .map(([label]) => label),
  'silent',
];

/**
 * Takes TUTTI_LOG_LEVEL out of `env` unless it names a level, and says what was wrong with it.
 * The logger reads it as its module loads and throws on any other value, so every command, even
 * `--help`, would end in a stack trace; taken out, help still prints, and a command that runs is
 * refused with this message. An empty value is no value, as for every other setting.
 */
export function takeBadLogLevel(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const level = env['TUTTI_LOG_LEVEL'];
  if (level === undefined || LOG_LEVELS.includes(level)) return undefined;
  delete env['TUTTI_LOG_LEVEL'];
  return level === '' ? undefined : `TUTTI_LOG_LEVEL=${level}: expected one of ${LOG_LEVELS.join(', ')}`;
}
