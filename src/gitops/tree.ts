import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { APP_FILES, type RenderedTree } from './render.js';

/**
 * Writes a rendered tree into `dir`, first removing the app files render owns, so an expectation
 * that left the input leaves the tree too. Other files in `dir` are kept.
 */
export async function writeTree(dir: string, tree: RenderedTree): Promise<string[]> {
  for (const path of Object.values(APP_FILES)) await rm(join(dir, path), { force: true });
  const written: string[] = [];
  for (const [path, content] of tree) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    written.push(path);
  }
  return written;
}
