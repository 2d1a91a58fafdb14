import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import type { StatusBody } from '../runtime/client/errors.js';
import type { ForbiddenDetails } from './submit.js';

/** What went wrong with one intent file, as `<error-dir>/<basename>.<timestamp>.error` holds it. */
export interface IntentError {
  file: string;
  /** `InvalidJSON`, `ValidationFailed`, `TooLarge`, `Forbidden`, … */
  reason: string;
  message: string;
  /** Every schema violation, in the seed's wording. */
  errors?: string[];
  /** The API server's Status, for a rejected submission. */
  status?: StatusBody;
  forbidden?: ForbiddenDetails;
  sha256?: string;
  timestamp: string;
}

/** `20260223T172500.123Z`: sortable, and free of the colons some filesystems refuse. */
function compactTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '');
}

export async function writeErrorFile(
  errorDir: string,
  error: Omit<IntentError, 'timestamp'>,
): Promise<string> {
  const now = new Date();
  await mkdir(errorDir, { recursive: true });
  const path = join(errorDir, `${basename(error.file)}.${compactTimestamp(now)}.error`);
  const body: IntentError = { ...error, timestamp: now.toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}
