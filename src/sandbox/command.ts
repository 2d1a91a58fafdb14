/** Exit status GNU `timeout` reports when it had to stop the command. */
export const TIMEOUT_EXIT_CODE = 124;
/** After the timeout's SIGTERM, the command's process group gets SIGKILL this much later. */
export const KILL_AFTER_SECONDS = 2;

export interface CommandSpec {
  /** A shell command line, run by `sh -c`. */
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs: number;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The argv exec'd in the sandbox: `cd` to the working directory, then `env` for the variables,
 * then GNU `timeout`, which runs the command in a process group of its own and signals the whole
 * group when time is up, so background children die with it.
 */
export function commandArgv(spec: CommandSpec): string[] {
  if (!spec.command.trim()) throw new Error('the command is empty');
  if (!(spec.timeoutMs > 0)) throw new Error(`timeoutMs must be positive, got ${spec.timeoutMs}`);
  const envArgs: string[] = [];
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`env: "${name}" is not a valid environment variable name`);
    envArgs.push(`${name}=${value}`);
  }
  const seconds = (Math.ceil(spec.timeoutMs) / 1000).toFixed(3);
  const run = [
    'env',
    ...envArgs,
    'timeout',
    '-k',
    `${KILL_AFTER_SECONDS}s`,
    `${seconds}s`,
    'sh',
    '-c',
    spec.command,
  ];
  if (spec.cwd === undefined) return run;
  // "$1" is the directory, passed as an argument so that no quoting is needed.
  return ['sh', '-c', 'cd -- "$1" && shift && exec "$@"', 'sh', spec.cwd, ...run];
}

/** Appended to a stream that was cut at the output cap. */
export function truncationMarker(capBytes: number): string {
  return `\n[output truncated: only the first ${capBytes} bytes were kept]\n`;
}

/** Marks `text` as cut when it filled the cap (the exec layer cuts at a byte count). */
export function capOutput(text: string, capBytes: number, truncated: boolean): string {
  // A cut may split a multi-byte character, which decodes as U+FFFD (3 bytes): allow for it.
  return truncated && Buffer.byteLength(text) >= capBytes - 3 ? text + truncationMarker(capBytes) : text;
}
