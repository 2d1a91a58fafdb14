import { StringDecoder } from 'node:string_decoder';

type Stream = 'stdout' | 'stderr';

/**
 * Turns a command's raw output chunks into text for a listener as they arrive, and at the end
 * delivers whatever the final result adds (a character split across chunks, a truncation or
 * timeout marker), so that what the listener got adds up to the result.
 */
export class LiveOutput {
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private readonly sent = { stdout: '', stderr: '' };

  constructor(private readonly listener: (stream: Stream, text: string) => void) {}

  push(stream: Stream, chunk: Buffer): void {
    this.send(stream, this.decoders[stream].write(chunk));
  }

  end(result: Record<Stream, string>): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      this.decoders[stream].end();
      const sent = this.sent[stream];
      const final = result[stream];
      // The result is the sent text plus additions; when decoding differed, resend nothing wrong.
      if (final.startsWith(sent)) this.send(stream, final.slice(sent.length));
    }
  }

  private send(stream: Stream, text: string): void {
    if (!text) return;
    this.sent[stream] += text;
    this.listener(stream, text);
  }
}
