/** The sandbox could not be started; nothing of it is left in the cluster. */
export class SandboxStartError extends Error {
  override name = 'SandboxStartError';
}

/** The sandbox is not usable for the call: never initialised, torn down, or its pod is gone. */
export class SandboxStateError extends Error {
  override name = 'SandboxStateError';
}

/**
 * The connection to the API server carrying a command (or file transfer) stopped answering for
 * `silentMs` without closing, so the call was ended: the command may still be running in the
 * pod, or may have ended; its outcome is unknown. The pod is not known to be lost, so the sandbox
 * stays usable. `cause` is the runtime's ExecStalledError.
 */
export class SandboxStalledError extends SandboxStateError {
  override name = 'SandboxStalledError';
  constructor(
    message: string,
    /** How long the API server had been silent when the call was ended. */
    readonly silentMs: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A file could not be written into or read from the sandbox. */
export class SandboxFileError extends Error {
  override name = 'SandboxFileError';
}

/**
 * The sandbox's pod was lost (evicted, deleted, its node removed): the command running then was
 * stopped, and the sandbox is unusable, as its files and processes went with the pod.
 */
export class SandboxLostError extends SandboxStateError {
  override name = 'SandboxLostError';
  constructor(
    message: string,
    /** What happened to the pod, e.g. `pod ci-fixer-sandbox-…-x2k9z (node …) was evicted`. */
    readonly reason: string,
  ) {
    super(message);
  }
}
