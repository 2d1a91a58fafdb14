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

/** Note added to stderr when processes the command left holding its output had to be stopped. */
export const LEFTOVERS_STOPPED =
  '[the command had ended; the processes it left holding its output were stopped]';

/**
 * Runs `timeout <seconds> sh -c <command>` ($1, $2) and exits with its status once the command's
 * shell has ended, after stopping the processes still holding this call's stdout or stderr (TERM,
 * then KILL): a background process holding them would keep the exec stream, so the call, open
 * until the timeout. One whose output goes elsewhere (`nohup server >/dev/null 2>&1 &`) keeps
 * running for the commands after. The holders are found by comparing each process's fds 1 and 2
 * with ours (`-ef`: the same pipe), with no process started per candidate, and only when ours
 * are pipes or sockets: a terminal or /dev/null is shared by unrelated processes.
 */
const STOP_LEFTOVERS = [
  `timeout -k ${KILL_AFTER_SECONDS}s "$1" sh -c "$2"`,
  's=$?',
  'o=/proc/$$/fd/1 e=/proc/$$/fd/2 h=',
  '[ -p $o ] || [ -S $o ] || o=',
  '[ -p $e ] || [ -S $e ] || e=',
  // Whether the process at /proc/<pid> ($1) holds our stdout or stderr; a zombie holds nothing.
  'holds() { { [ -n "$o" ] && [ "$1/fd/1" -ef "$o" ]; } || { [ -n "$e" ] && [ "$1/fd/2" -ef "$e" ]; }; }',
  'if [ -n "$o$e" ]; then',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, the pid
  '  for d in /proc/[0-9]*; do [ "$d" != /proc/$$ ] && holds "$d" && h="$h ${d#/proc/}"; done',
  'fi',
  'if [ -n "$h" ]; then',
  '  kill -TERM $h 2>/dev/null; i=0',
  `  while [ $i -lt ${KILL_AFTER_SECONDS * 10} ]; do`,
  '    a=; for p in $h; do holds /proc/$p && a="$a $p"; done',
  '    h=$a; [ -z "$h" ] && break; sleep 0.1; i=$((i+1))',
  '  done',
  `  [ -n "$h" ] && kill -KILL $h 2>/dev/null; echo "${LEFTOVERS_STOPPED}" >&2`,
  'fi',
  'exit "$s"',
].join('\n');

/**
 * The argv exec'd in the sandbox: `cd` to the working directory, then `env` for the variables,
 * then GNU `timeout`, which runs the command in a process group of its own and signals the whole
 * group when time is up, so background children die with it; and when the command ends first,
 * what it left holding its output is stopped too.
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
