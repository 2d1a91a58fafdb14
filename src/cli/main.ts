import { readFile } from 'node:fs/promises';
import { closest } from '../runtime/suggest.js';
import { type Command, didYouMean, helpText, parseCommandArgs, UsageError } from './command.js';
import { takeBadLogLevel } from './log-level.js';

const badLogLevel = takeBadLogLevel();
// Loaded after that: the commands' modules load the logger, which reads TUTTI_LOG_LEVEL.
const { commands } = await import('./commands.js');
const { Interrupted } = await import('./cluster.js');

function commandList(list: Command[]): string[] {
  const width = Math.max(...list.map((c) => c.name.length)) + 2;
  return list.map((c) => `  ${c.name.padEnd(width)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`);
}

function overview(): string {
  return [
    'tutti: intent-driven orchestration for Kubernetes',
    '',
    'Usage: tutti <command> [flags]',
    '',
    'Commands:',
    ...commandList(commands),
    '',
    'Run "tutti <command> --help" for the flags of a command; "tutti --version" prints the version.',
  ].join('\n');
}

/**
 * The package's version, from two levels up: the repository's package.json, or the one the build
 * writes into dist/.
 */
async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
  return `tutti ${pkg.version} (node ${process.version})`;
}

/** The help of a command group such as `tutti cluster`: its subcommands. */
function groupHelp(group: string, list: Command[]): string {
  return [
    `Usage: tutti ${group} <command> [flags]`,
    '',
    'Commands:',
    ...commandList(list),
    '',
    `Run "tutti ${group} <command> --help" for the flags of a command.`,
  ].join('\n');
}

/** Finds the longest command name that prefixes argv. */
function resolve(argv: string[]): { cmd?: Command; rest: string[] } {
  for (let n = Math.min(argv.length, 3); n > 0; n--) {
    const cmd = commands.find((c) => c.name === argv.slice(0, n).join(' '));
    if (cmd) return { cmd, rest: argv.slice(n) };
  }
  return { rest: argv };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(overview());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    console.log(await version());
    return 0;
  }
  const { cmd, rest } = resolve(argv);
  if (!cmd) {
    const group = commands.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (!group.length) {
      const words = [...new Set(commands.map((c) => c.name.split(' ')[0]!)), '--help', '--version'];
      const guess = closest(argv[0]!, words);
      // A likely typo gets the one line that fixes it; anything else gets the whole list.
      console.error(
        guess
          ? `tutti: unknown command "${argv[0]}"; did you mean "${guess}"?\nRun "tutti --help" for every command.`
          : `tutti: unknown command "${argv[0]}"\n\n${overview()}`,
      );
      return 2;
    }
    const sub = argv[1];
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      console.log(groupHelp(argv[0]!, group));
      return 0;
    }
    const subs = group.map((c) => c.name.slice(argv[0]!.length + 1).split(' ')[0]!);
    const problem =
      sub === undefined ? 'a command is needed' : `unknown command "${sub}"${didYouMean(sub, subs)}`;
    console.error(`tutti ${argv[0]}: ${problem}\n\n${groupHelp(argv[0]!, group)}`);
    return 2;
  }
  let fromEnv: Record<string, string> = {};
  try {
    const parsed = parseCommandArgs(cmd, rest);
    const { values, positionals } = parsed;
    fromEnv = parsed.fromEnv;
    if (values['help']) {
      console.log(helpText(cmd));
      return 0;
    }
    if (badLogLevel) throw new UsageError(badLogLevel);
    return (await cmd.run(values, positionals)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      // A flag's value refused ("--flag: ...") that the user set in the environment: it names where.
      const flag = /^--([\w-]+):/.exec(err.message)?.[1];
      const env = flag === undefined ? undefined : fromEnv[flag];
      const [first, ...more] = err.message.split('\n');
      console.error(`tutti ${cmd.name}: ${[`${first}${env ? ` (set by ${env})` : ''}`, ...more].join('\n')}`);
      return 2;
    }
    if (err instanceof Interrupted) {
      console.error(`tutti ${cmd.name}: ${err.message}`);
      return 130;
    }
    // Log lines written before the failure come before its message.
    await import('../runtime/log.js').then((log) => log.flushLogs());
    console.error(`tutti ${cmd.name}: ${(err as Error).message}`);
    if (process.env['TUTTI_DEBUG']) console.error(err);
    return 1;
  }
}

// A reader that stops early (`tutti cluster status | head -1`) closes the pipe: the rest of the
// output has nowhere to go, which is no failure of the command, so it still ends with its own code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

process.exitCode = await main(process.argv.slice(2));
