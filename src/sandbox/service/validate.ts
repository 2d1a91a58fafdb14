/** A request to start a CI run: `POST /api/runs`. */
export interface RunRequest {
  image?: string;
  commands: string[];
  repo?: string;
}

/** A bad request, naming the field at fault (answered with 400). */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export const MAX_COMMANDS = 100;
export const MAX_COMMAND_LENGTH = 10_000;
// An image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
const IMAGE_REF =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
// Clone sources git understands without a shell: URLs and scp-like `user@host:path`.
const REPO = /^(?:(?:https?|ssh|git|file):\/\/\S+|[\w.-]+@[\w.-]+:\S+)$/;

/** Checks a decoded JSON body and returns the request, or throws RequestError for the first bad field. */
export function parseRunRequest(body: unknown): RunRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RequestError('body', 'must be a JSON object with "commands"');
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!['image', 'commands', 'repo'].includes(key)) {
      throw new RequestError(key, 'unknown field (expected image, commands, repo)');
    }
  }
  const { image, commands, repo } = b;
  if (!Array.isArray(commands) || commands.length === 0) {
    throw new RequestError('commands', 'must be a non-empty array of shell command strings');
  }
  if (commands.length > MAX_COMMANDS) throw new RequestError('commands', `at most ${MAX_COMMANDS} commands`);
  commands.forEach((c, i) => {
    if (typeof c !== 'string' || !c.trim())
      throw new RequestError(`commands[${i}]`, 'must be a non-empty string');
    if (c.length > MAX_COMMAND_LENGTH) {
      throw new RequestError(`commands[${i}]`, `longer than ${MAX_COMMAND_LENGTH} characters`);
    }
  });
  if (image !== undefined && (typeof image !== 'string' || !IMAGE_REF.test(image))) {
    throw new RequestError(
      'image',
      `${JSON.stringify(image)} is not an image reference (e.g. node:20-bookworm)`,
    );
  }
  if (repo !== undefined && (typeof repo !== 'string' || !REPO.test(repo))) {
    throw new RequestError(
      'repo',
      `${JSON.stringify(repo)} is not a git URL (https://…, http://…, ssh://…, git://…, file://…, git@host:path)`,
    );
  }
  return {
    commands: commands as string[],
    ...(image !== undefined ? { image: image as string } : {}),
    ...(repo !== undefined ? { repo: repo as string } : {}),
  };
}
