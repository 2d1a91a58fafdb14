import { StringDecoder } from 'node:string_decoder';

type Stream = 'stdout' | 'stderr';

/**
 * Turns a command's raw output chunks into text for a listener as they arrive, and at the end
 * delivers whatever the final result adds (a character split across chunks, a truncation or
 * timeout marker), so that what the listener got adds up to the result.
 */
export class LiveOutput {
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  /** Characters sent per stream: a count, not a copy, as a command may keep many MiB. */
  private readonly sent = { stdout: 0, stderr: 0 };

  constructor(private readonly listener: (stream: Stream, text: string) => void) {}

  push(stream: Stream, chunk: Buffer): void {
    this.send(stream, this.decoders[stream].write(chunk));
  }

  end(result: Record<Stream, string>): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      this.decoders[stream].end();
      // The result is the sent text (decoded alike, chunk boundaries included) plus additions.
      this.send(stream, result[stream].slice(this.sent[stream]));
    }
  }

  private send(stream: Stream, text: string): void {
    if (!text) return;
    this.sent[stream] += text.length;
    this.listener(stream, text);
  }
}
