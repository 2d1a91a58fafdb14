import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `content` so that a reader, or a process restarted after a crash, sees
 * either the old content or the new, never a torn file: temp file in the same directory, fsync,
 * rename. Content given as chunks is written with one gathering call, never joined in memory.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'w', 0o644);
  try {
    if (Array.isArray(content)) await writeChunks(handle, content);
    else await handle.writeFile(content as string | Uint8Array);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  // The rename itself is durable once the directory is synced.
  const dir = await open(dirname(path), 'r').catch(() => undefined);
  if (dir)
    await dir
      .sync()
      .catch(() => {})
      .finally(() => dir.close());
}

/** writev(2) never writes more than IOV_MAX chunks at once, and may write less than asked. */
const IOV_MAX = 1024;

async function writeChunks(handle: FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  while (rest.length) {
    const slice = rest.slice(0, IOV_MAX);
    let { bytesWritten } = await handle.writev(slice);
    let done = 0;
    while (done < slice.length && bytesWritten >= slice[done]!.length) bytesWritten -= slice[done++]!.length;
    rest = rest.slice(done);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}
