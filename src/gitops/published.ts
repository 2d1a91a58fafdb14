import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseObjects } from './conform.js';
import type { IntentExpectation } from './expectation.js';
import { APP_FILES, LABEL_INTENT } from './render.js';

/**
 * The expectations a rendered tree in `dir` (a checkout of the repository) holds for the given
 * intents, read back from their ConfigMaps' `expectation.json`: what the edge was last told.
 */
export async function publishedExpectations(
  dir: string,
  intentIds: ReadonlySet<string>,
): Promise<IntentExpectation[]> {
  const out: IntentExpectation[] = [];
  for (const path of Object.values(APP_FILES)) {
    const text = await readFile(join(dir, path), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    for (const { object } of parseObjects(text, path)) {
      const intent = object.metadata?.labels?.[LABEL_INTENT];
      const data = (object as { data?: Record<string, string> }).data?.['expectation.json'];
      if (object.kind === 'ConfigMap' && intent && intentIds.has(intent) && data)
        out.push(JSON.parse(data) as IntentExpectation);
    }
  }
  return out;
}
