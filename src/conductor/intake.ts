import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parseJsonStrict } from '../runtime/json.js';

/** The seed's limit on one intent file. */
export const MAX_INTENT_FILE_BYTES = 5 * 1024 * 1024;

/** The files the loop picks up; everything else in the directory is left alone. */
export const INTENT_FILE_PATTERN = /^intent-.*\.json$/;

/**
 * The version of a file that was read: unchanged while all of these stay the same. The inode and
 * ctime catch what size and mtime alone miss: a same-size rewrite within one coarse timestamp tick,
 * or a file renamed in whose mtime equals the one it replaced.
 */
export interface FileVersion {
  mtimeMs: number;
  size: number;
  ino: number;
  ctimeMs: number;
}

/** Whether two versions of a file are the same. */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino && a.ctimeMs === b.ctimeMs;
}

export type ReadResult =
  | { ok: true; bytes: Buffer; sha256: string; version: FileVersion }
  | {
      ok: false;
      reason: 'NotFound' | 'NotRegularFile' | 'Symlink' | 'Unreadable' | 'TooLarge' | 'Empty';
      message: string;
      /** Absent when the file could not be opened (gone, a symlink, a socket, no permission). */
      version?: FileVersion;
    };

/**
 * Reads one intent file without following symlinks (a link could expose any file the loop can
 * read) and without reading more than the size limit.
 *
 * Synchronous on purpose: an intent file is small, and four system calls cost the event loop a few
 * microseconds, where the same calls through the I/O threads cost ten times that in CPU, which a
 * burst of files takes from the API server. A hung volume stalls the loop either way.
 */
export function readIntentFile(path: string, maxBytes = MAX_INTENT_FILE_BYTES): ReadResult {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
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
    // A socket cannot be opened at all; a FIFO or a directory opens and fails the check below.
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
      return { ok: false, reason: 'NotRegularFile', message: `${path} is not a regular file` };
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return {
        ok: false,
        reason: 'Unreadable',
        message: `${path} cannot be read: permission denied (${code}); the loop reads it again once its permissions change`,
      };
    }
    // Anything else (too many open files, I/O errors) may pass: the file is tried again later.
    throw err;
  }
  try {
    const info = fstatSync(fd);
    const version = { mtimeMs: info.mtimeMs, size: info.size, ino: info.ino, ctimeMs: info.ctimeMs };
    if (!info.isFile()) {
      return { ok: false, reason: 'NotRegularFile', message: `${path} is not a regular file`, version };
    }
    if (info.size > maxBytes) {
      return {
        ok: false,
        reason: 'TooLarge',
        message: `${path} is ${info.size} bytes; the limit is ${maxBytes} bytes`,
        version,
      };
    }
    // One read of the size seen, plus a byte to notice a file still growing past the limit. A
    // regular file's read is short only at its end, so one call reads it all.
    const buffer = Buffer.allocUnsafe(Math.min(info.size, maxBytes) + 1);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    if (length > maxBytes) {
      return {
        ok: false,
        reason: 'TooLarge',
        message: `${path} grew past the ${maxBytes}-byte limit`,
        version,
      };
    }
    if (length === 0) return { ok: false, reason: 'Empty', message: `${path} is empty`, version };
    const bytes = buffer.subarray(0, length);
    return { ok: true, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), version };
  } finally {
    closeSync(fd);
  }
}

const NOT_UTF8 = 'the file is not UTF-8 text (binary content)';

export type ParseResult = { ok: true; doc: unknown } | { ok: false; message: string };

/** Parses an intent file's bytes as JSON, naming what is wrong (binary, BOM-less garbage, …). */
export function parseIntentJson(bytes: Buffer): ParseResult {
  let text: string;
  try {
    // Fatal: an invalid sequence throws, where a lenient decoder would turn it into U+FFFD, which
    // valid UTF-8 text may itself contain.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return { ok: false, message: NOT_UTF8 };
  }
  if (text.includes('\u0000')) return { ok: false, message: NOT_UTF8 };
  try {
    return { ok: true, doc: parseJsonStrict(text) };
  } catch (err) {
    return { ok: false, message: `invalid JSON: ${(err as Error).message}` };
  }
}
