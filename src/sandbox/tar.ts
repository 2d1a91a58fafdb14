import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

/** A one-file tar archive, as `kubectl cp` sends it, with the file under `name`. */
export async function tarOf(name: string, content: Buffer, mode = 0o644): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name, size: content.length, mode, mtime: new Date() }, content);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The content of the first regular file in a tar archive. */
export async function firstFileOf(archive: Buffer): Promise<{ name: string; content: Buffer }> {
  const reader = extract();
  Readable.from([archive]).pipe(reader);
  for await (const entry of reader) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (entry.header.type === 'file' || entry.header.type === 'contiguous-file') {
      return { name: entry.header.name, content: Buffer.concat(chunks) };
    }
  }
  throw new Error('the archive holds no regular file');
}
