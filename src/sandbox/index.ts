// The sandbox library: commands in Kubernetes Jobs (`import { KubernetesSandbox } from 'tutti/sandbox'`).
export {
  SandboxFileError,
  SandboxLostError,
  SandboxStalledError,
  SandboxStartError,
  SandboxStateError,
} from './errors.js';
export {
  DEFAULT_ACTIVE_DEADLINE_SECONDS,
  DEFAULT_TTL_SECONDS_AFTER_FINISHED,
  SANDBOX_LABEL,
  SANDBOX_SERVICE_ACCOUNT,
  sandboxJob,
} from './job.js';
export {
  type CommandResult,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_STARTUP_TIMEOUT_MS,
  KubernetesSandbox,
  type OutputStream,
  type RunCommandOptions,
  type SandboxOptions,
} from './sandbox.js';
