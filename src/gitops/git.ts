import { execFile } from 'node:child_process';

/** Basic-auth credentials for an HTTP(S) remote; a token goes in `password`. */
export interface GitCredentials {
  readonly username?: string;
  readonly password?: string;
}

/** Why a remote operation failed, in words a user acts on. */
export type GitFailure = 'auth' | 'unreachable' | 'not-found' | 'rejected' | 'declined' | 'other';

export class GitError extends Error {
  override name = 'GitError';
  constructor(
    message: string,
    readonly failure: GitFailure,
    readonly stderr: string,
  ) {
    super(message);
  }
}

function classify(stderr: string): GitFailure {
  // Connection failures first: their text holds ports and addresses that may contain "401".
  if (
    /Could not resolve host|Failed to connect|Connection refused|Couldn't connect|timed out|Empty reply/i.test(
      stderr,
    )
  ) {
    return 'unreachable';
  }
  if (
    /returned error: 40[13]\b|Authentication failed|could not read (Username|Password)|terminal prompts disabled/i.test(
      stderr,
    )
  ) {
    return 'auth';
  }
  if (/repository .* not found|returned error: 404\b/i.test(stderr)) return 'not-found';
  if (/\[rejected\]|non-fast-forward|fetch first/i.test(stderr)) return 'rejected';
  // Another push moved the branch after the server advertised it to us: the server's ref update
  // fails on the old value, a lost race like the above, not a refusal.
  if (/\[remote rejected\][^\n]*\((failed to (update ref|lock)|cannot lock ref)/.test(stderr))
    return 'rejected';
  // The server's own refusal (a pre-receive hook, a protected branch): pushing again cannot help.
  if (/\[remote rejected\]/.test(stderr)) return 'declined';
  return 'other';
}

const FAILURE_TEXT: Record<Exclude<GitFailure, 'auth'>, string> = {
  unreachable: 'the git server cannot be reached',
  'not-found': 'the repository does not exist',
  rejected: 'the push was rejected because the branch moved',
  declined: 'the server refused the push',
  other: 'git failed',
};

/**
 * Runs the real git binary. Credentials travel as an Authorization header in the environment
 * (never in argv, where `ps` shows them); prompts and the user's credential helpers are off so a
 * bad password fails at once instead of hanging.
 */
export function git(
  args: readonly string[],
  opts: { cwd?: string; credentials?: GitCredentials; remote?: string } = {},
): Promise<string> {
  const config: [string, string][] = [['credential.helper', '']];
  const { username, password } = opts.credentials ?? {};
  if (username !== undefined || password !== undefined) {
    const token = Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64');
    config.push(['http.extraHeader', `Authorization: Basic ${token}`]);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'false',
    GIT_CONFIG_COUNT: String(config.length),
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: opts.cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const failure = classify(stderr);
      const where = opts.remote ? ` (${redact(opts.remote)})` : '';
      const text =
        failure === 'auth'
          ? `authentication failed: ${
              username !== undefined || password !== undefined
                ? 'the server refused the username and password or token given'
                : 'the server asks for credentials and none were given (TUTTI_GIT_USERNAME, TUTTI_GIT_PASSWORD)'
            }`
          : FAILURE_TEXT[failure];
      const detail = failureDetail(stderr, failure) ?? (failure === 'auth' ? undefined : err.message);
      reject(
        new GitError(
          `git ${args[0]}${where}: ${text}${detail ? `: ${redact(detail)}` : ''}`,
          failure,
          stderr,
        ),
      );
    });
  });
}

/** git's own verdict, not the advice it may print after it; undefined when it says nothing more. */
function failureDetail(stderr: string, failure: GitFailure): string | undefined {
  const lines = stderr
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (failure === 'declined') {
    // `! [remote rejected] main -> main (pre-receive hook declined)`, and what the hook said.
    const refused = lines.find((l) => l.includes('[remote rejected]'))?.replace(/^!\s*/, '');
    const said = lines.filter((l) => l.startsWith('remote:')).map((l) => l.slice(7).trim());
    return [refused, ...said].filter(Boolean).join('; ');
  }
  // Prompts are off, so after a refused login git only says that it could not ask for one.
  if (failure === 'auth') return lines.find((l) => /Authentication failed/i.test(l));
  return (
    lines.find((l) => l.startsWith('fatal:')) ?? lines.find((l) => l.startsWith('error:')) ?? lines.at(-1)
  );
}

/** A URL with any password in it blanked, for messages and logs. */
export function redact(text: string): string {
  return text.replace(/(https?:\/\/[^:/@\s]+):[^@\s]+@/g, '$1:***@');
}
