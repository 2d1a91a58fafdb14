// `import { KubernetesSandbox } from 'tutti/sandbox'`: the package ships TypeScript sources, so
// this entry loads them through tsx (as bin/tutti.js does) and works from plain Node and tsx.
import { tsImport } from 'tsx/esm/api';

const sandbox = await tsImport('../src/sandbox/index.ts', import.meta.url);

// Kept in step with src/sandbox/index.ts (a test compares the two).
export const {
  DEFAULT_ACTIVE_DEADLINE_SECONDS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_STARTUP_TIMEOUT_MS,
  DEFAULT_TTL_SECONDS_AFTER_FINISHED,
  KubernetesSandbox,
  SANDBOX_LABEL,
  SANDBOX_SERVICE_ACCOUNT,
  SandboxFileError,
  SandboxLostError,
  SandboxStalledError,
  SandboxStartError,
  SandboxStateError,
  sandboxJob,
} = sandbox;
