import { parseArgs } from 'node:util';
import { closest } from '../runtime/suggest.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  readonly default?: string | boolean;
  readonly short?: string;
  /** Environment variable that supplies the value when the flag is absent. */
  readonly env?: string;
  readonly multiple?: boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** One `tutti` subcommand; modules contribute theirs through `registerCommands`. */
export interface Command {
  /** Words after `tutti`, e.g. `cluster up`. */
  readonly name: string;
  readonly summary: string;
  readonly usage?: string;
  readonly options?: Record<string, OptionSpec>;
  readonly allowPositionals?: boolean;
  run(opts: OptionValues, positionals: string[]): Promise<number | undefined> | number | undefined;
}

/** `--context`, beside every `--kubeconfig` flag, as kubectl's. */
export const contextFlag: OptionSpec = {
  type: 'string',
  description: "kubeconfig context to use (default: the kubeconfig's current-context)",
};

/** A user error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `; did you mean "x"?` for a mistyped word, or nothing. */
export function didYouMean(word: string, choices: readonly string[]): string {
  const guess = closest(word, choices);
  return guess ? `; did you mean "${guess}"?` : '';
}

export function helpText(cmd: Command): string {
  const lines = [`Usage: tutti ${cmd.usage ?? cmd.name}${cmd.options ? ' [flags]' : ''}`, '', cmd.summary];
  const opts = Object.entries(cmd.options ?? {});
  if (opts.length) {
    lines.push('', 'Flags:');
    const rows = opts.map(([name, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
      const extra = [
        o.default !== undefined && o.default !== '' ? `default ${JSON.stringify(o.default)}` : '',
        o.env ? `env ${o.env}` : '',
      ].filter(Boolean);
      return [flag, `${o.description}${extra.length ? ` (${extra.join('; ')})` : ''}`] as const;
    });
    const width = Math.max(...rows.map(([f]) => f.length)) + 2;
    for (const [f, d] of rows) lines.push(`  ${f.padEnd(width)}${d}`);
    lines.push(`  ${'-h, --help'.padEnd(width)}show this help`);
  }
  return lines.join('\n');
}

/**
 * Parses flags: command line first, then each flag's environment variable, then its default.
 * `fromEnv` names the variable each flag's value came from, for the messages that refuse it.
 */
export function parseCommandArgs(
  cmd: Command,
  argv: string[],
): { values: OptionValues; positionals: string[]; fromEnv: Record<string, string> } {
  const specs = cmd.options ?? {};
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(specs)) {
    config[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  // Go's flag package also takes one dash (-config file, -config=file), as the seeds' manifests
  // pass them; a declared long option written so is read as if written with two.
  const end = argv.indexOf('--');
  const goStyle = argv.map((arg, i) => {
    const m = /^-([\w][\w-]+)(=.*)?$/.exec(arg);
    return m && (end < 0 || i < end) && (m[1]! in specs || m[1] === 'help') ? `-${arg}` : arg;
  });
  // Booleans also take Go-flag forms: --flag=false, --flag=true, and --no-flag.
  // Words after `--` are positionals, whatever they look like.
  const negated: Record<string, boolean> = {};
  const args = goStyle.filter((arg, i) => {
    const m = /^--(no-)?([\w-]+?)(?:=(true|false))?$/.exec(arg);
    const name = m?.[2];
    if (!m || !name || specs[name]?.type !== 'boolean' || (!m[1] && !m[3]) || (end >= 0 && i > end))
      return true;
    negated[name] = m[1] ? false : m[3] === 'true';
    return false;
  });
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: config,
      allowPositionals: cmd.allowPositionals ?? false,
      strict: true,
    });
  } catch (err) {
    let message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    const unknown = /^Unknown option '(--?[^'=]+)/.exec(message)?.[1];
    if (
      (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' &&
      unknown?.startsWith('--')
    ) {
      const flags = ['help', ...Object.keys(specs)].map((f) => `--${f}`);
      message += didYouMean(unknown, flags);
    }
    throw new UsageError(`${message}\n\n${helpText(cmd)}`);
  }
  const values: OptionValues = { ...(parsed.values as OptionValues), ...negated };
  // Help reads no value, so a bad one in the environment must not keep it from printing; the
  // command that runs is refused for it.
  const fromEnv: Record<string, string> = {};
  if (values['help']) return { values, positionals: parsed.positionals, fromEnv };
  for (const [name, o] of Object.entries(specs)) {
    if (values[name] !== undefined) continue;
    const envValue = o.env ? process.env[o.env] : undefined;
    if (envValue !== undefined && envValue !== '') {
      if (o.type === 'boolean') {
        if (!/^(1|0|true|false|yes|no)$/i.test(envValue)) {
          throw new UsageError(`${o.env}=${envValue}: expected true or false`);
        }
        values[name] = /^(1|true|yes)$/i.test(envValue);
      } else values[name] = o.multiple ? envValue.split(',') : envValue;
      fromEnv[name] = o.env!;
    } else if (o.default !== undefined) values[name] = o.default;
  }
  return { values, positionals: parsed.positionals, fromEnv };
}

const GO_DURATION = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go-style duration (`100ms`, `5s`, `1m30s`, `0`) into milliseconds. */
export function parseDuration(text: string, flag = 'duration'): number {
  const t = text.trim();
  if (t === '0') return 0;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(GO_DURATION)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== t.length) {
    throw new UsageError(`--${flag}: "${text}" is not a duration (examples: 100ms, 5s, 1m30s)`);
  }
  return total;
}

/** `flag` is a long flag's name, or the flag as written when it starts with "-" (`-v/--verbosity`). */
export function parseInteger(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  // Number('') is 0: an empty value is no number.
  if (!text.trim() || !Number.isInteger(n) || n < min || n > max) {
    const name = flag.startsWith('-') ? flag : `--${flag}`;
    throw new UsageError(`${name}: "${text}" must be a whole number from ${min} to ${max}`);
  }
  return n;
}
