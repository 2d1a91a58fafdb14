import type { OutputStream } from '../sandbox.js';

/** The line that closes a stored stream whose end was not kept. */
export function droppedMarker(droppedBytes: number, limitBytes: number): string {
  return `\n[output truncated: ${droppedBytes} bytes not kept, past the run's limit of ${limitBytes} bytes]\n`;
}

/**
 * What a run keeps of its output: every piece until `limitBytes` (UTF-8) over all its steps, then
 * only a count of the bytes dropped per step and stream, which becomes a closing marker line.
 * Live subscribers still get every piece; this bounds only what stays in memory. What a stream
 * keeps is always a prefix of what it sent: once a piece of it was cut, no later one is kept.
 */
export class KeptOutput {
  private keptBytes = 0;
  private droppedBytes = 0;
  private readonly droppedPerStream = new Map<string, number>();

  constructor(readonly limitBytes: number) {}

  /** Bytes of output this run holds; markers are not counted (one at most per step and stream). */
  get bytes(): number {
    return this.keptBytes;
  }

  /** Bytes of output this run did not keep. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** The part of `text` to store: all of it, a prefix cut at a character boundary, or ''. */
  keep(index: number, stream: OutputStream, text: string): string {
    const size = Buffer.byteLength(text);
    const key = `${index}:${stream}`;
    // A small piece fitting in what a cut of this stream left would make it store a gap.
    const room = this.droppedPerStream.has(key) ? 0 : this.limitBytes - this.keptBytes;
    if (size <= room) {
      this.keptBytes += size;
      return text;
    }
    const kept = room > 0 ? utf8Prefix(text, room) : '';
    const keptSize = Buffer.byteLength(kept);
    this.keptBytes += keptSize;
    this.droppedBytes += size - keptSize;
    this.droppedPerStream.set(key, (this.droppedPerStream.get(key) ?? 0) + size - keptSize);
    return kept;
  }

  /** The marker that ends a stream which lost output, or ''. */
  close(index: number, stream: OutputStream): string {
    const key = `${index}:${stream}`;
    const dropped = this.droppedPerStream.get(key);
    if (!dropped) return '';
    this.droppedPerStream.delete(key);
    return droppedMarker(dropped, this.limitBytes);
  }
}

/** The longest prefix of `text` within `maxBytes` of UTF-8 that does not split a character. */
function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) to the start of the character they belong to.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
