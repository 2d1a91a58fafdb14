import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** The seed's limit on one intent file. */
export const MAX_INTENT_FILE_BYTES = 5 * 1024 * 1024;

/** The files the loop picks up; everything else in the directory is left alone. */
export const INTENT_FILE_PATTERN = /^intent-.*\.json$/;

export type ReadResult =
  | { ok: true; bytes: Buffer; sha256: string }
  | { ok: false; reason: 'NotFound' | 'NotRegularFile' | 'Symlink' | 'TooLarge' | 'Empty'; message: string };

/**
 * Reads one intent file without following symlinks (a link could expose any file the loop can
 * read) and without reading more than the size limit.
 */
export async function readIntentFile(path: string, maxBytes = MAX_INTENT_FILE_BYTES): Promise<ReadResult> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, reason: 'NotFound', message: `${path} no longer exists` };
    if (code === 'ELOOP') {
      return {
        ok: false,
        reason: 'Symlink',
        message: `${path} is a symbolic link; only regular files are read`,
      };
    }
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      return { ok: false, reason: 'NotRegularFile', message: `${path} is not a regular file` };
    }
    if (info.size > maxBytes) {
      return {
        ok: false,
        reason: 'TooLarge',
        message: `${path} is ${info.size} bytes; the limit is ${maxBytes} bytes`,
      };
    }
    const bytes = await handle.readFile();
    if (bytes.length > maxBytes) {
      return { ok: false, reason: 'TooLarge', message: `${path} grew past the ${maxBytes}-byte limit` };
    }
    if (bytes.length === 0) return { ok: false, reason: 'Empty', message: `${path} is empty` };
    return { ok: true, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  } finally {
    await handle.close();
  }
}

export type ParseResult = { ok: true; doc: unknown } | { ok: false; message: string };

/** Parses an intent file's bytes as JSON, naming what is wrong (binary, BOM-less garbage, …). */
export function parseIntentJson(bytes: Buffer): ParseResult {
  const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes);
  if (text.includes('\uFFFD') || text.includes('\u0000')) {
    return { ok: false, message: 'the file is not UTF-8 text (binary content)' };
  }
  try {
    return { ok: true, doc: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `invalid JSON: ${(err as Error).message}` };
  }
}
