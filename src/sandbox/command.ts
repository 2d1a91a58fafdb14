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

/** Note added to stderr when processes the command left running had to be stopped. */
export const LEFTOVERS_STOPPED = '[the command had ended; the processes it left running were stopped]';

/**
 * Runs `timeout <seconds> sh -c <command>` ($1, $2) and exits with its status once the command's
 * shell has ended, after stopping what the command left running in its process group (TERM, then
 * KILL): a background process holding stdout would keep the exec stream, so the call, open.
 * GNU timeout makes that group, with its own pid as the id; the command's shell, its child, sends
 * its $PPID through fd 5 — a command substitution, which ends with timeout, not with stdout —
 * and closes it before the command runs. A busybox timeout makes no group (the id read is then
 * this shell's): nothing is stopped. Not `&`, which would give the command /dev/null as stdin
 * and SIGINT ignored. dash's `kill` takes no `--`.
 */
const STOP_LEFTOVERS = [
  'exec 4>&1',
  `g=$(timeout -k ${KILL_AFTER_SECONDS}s "$1" sh -c 'echo "$PPID" >&5; exec 5>&-; exec sh -c "$1"' sh "$2" 5>&1 >&4 4>&-)`,
  's=$?',
  'case $g in ""|*[!0-9]*) g=$$ ;; esac',
  'if [ "$g" != "$$" ] && kill -0 "-$g" 2>/dev/null; then',
  '  kill -TERM "-$g" 2>/dev/null; i=0',
  `  while kill -0 "-$g" 2>/dev/null && [ $i -lt ${KILL_AFTER_SECONDS * 10} ]; do sleep 0.1; i=$((i+1)); done`,
  `  kill -KILL "-$g" 2>/dev/null; echo "${LEFTOVERS_STOPPED}" >&2`,
  'fi',
  'exit "$s"',
].join('\n');

/**
 * The argv exec'd in the sandbox: `cd` to the working directory, then `env` for the variables,
 * then GNU `timeout`, which runs the command in a process group of its own and signals the whole
 * group when time is up, so background children die with it; and when the command ends first,
 * what it left running in that group is stopped too.
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
  const run = ['env', ...envArgs, 'sh', '-c', STOP_LEFTOVERS, 'sh', `${seconds}s`, spec.command];
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
