import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic-file.js';

/** What the executor remembers of one AVS across restarts: the performer it put in service. */
export interface AvsState {
  performerId: string;
  image: string;
  version?: string;
  /** The deployment generation that put it in service. */
  generation: number;
  deployedAt: string;
}

/** The executor's state file (`state.json` in its data directory, the StatefulSet's PVC). */
export interface ExecutorState {
  /** Counts successful deployments, across every AVS and every restart. */
  generation: number;
  avs: Record<string, AvsState>;
}

export const STATE_FILE = 'state.json';

export function emptyState(): ExecutorState {
  return { generation: 0, avs: {} };
}

/** Reads the state; a missing file is a first start. A file that is there but unreadable fails. */
export async function loadExecutorState(dataDir: string): Promise<ExecutorState> {
  const path = join(dataDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new Error(`executor state ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `executor state ${path} is not JSON (${(err as Error).message}); move it aside to start afresh`,
    );
  }
  const s = raw as Partial<ExecutorState>;
  if (
    typeof s !== 'object' ||
    s === null ||
    !Number.isInteger(s.generation) ||
    typeof s.avs !== 'object' ||
    !s.avs
  )
    throw new Error(`executor state ${path} lacks generation or avs; move it aside to start afresh`);
  return { generation: s.generation as number, avs: s.avs };
}

/** Writes the state so that a crash leaves either the old state or the new, never half of one. */
export async function saveExecutorState(dataDir: string, state: ExecutorState): Promise<void> {
  await writeFileAtomic(join(dataDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}
