import { logLevelProblem } from '../runtime/log-level.js';

/**
 * Takes TUTTI_LOG_LEVEL out of `env` unless it names a level, and says what was wrong with it.
 * The logger reads it as its module loads and throws on any other value, so every command, even
 * `--help`, would end in that error; taken out, help still prints, and a command that runs is
 * refused with this message. An empty value is no value, as for every other setting (the logger
 * takes it as unset).
 */
export function takeBadLogLevel(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const problem = logLevelProblem(env['TUTTI_LOG_LEVEL']);
  if (problem) delete env['TUTTI_LOG_LEVEL'];
  return problem;
}
