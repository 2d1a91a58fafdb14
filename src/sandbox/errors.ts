/** The sandbox could not be started; nothing of it is left in the cluster. */
export class SandboxStartError extends Error {
  override name = 'SandboxStartError';
}

/** The sandbox is not usable for the call: never initialised, torn down, or its pod is gone. */
export class SandboxStateError extends Error {
  override name = 'SandboxStateError';
}

/** A file could not be written into or read from the sandbox. */
export class SandboxFileError extends Error {
  override name = 'SandboxFileError';
}
