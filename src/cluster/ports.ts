import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

let ephemeral: readonly [number, number] | undefined;

/** The range the kernel takes outgoing connections' local ports from (Linux; IANA's elsewhere). */
function ephemeralRange(): readonly [number, number] {
  if (!ephemeral) {
    let text = '';
    try {
      text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    } catch {}
    const [lo, hi] = text.trim().split(/\s+/).map(Number);
    ephemeral = lo && hi ? [lo, hi] : [49152, 65535];
  }
  return ephemeral;
}

/** A port the OS picks and reports free on 127.0.0.1 right now (from the ephemeral range). */
function osAssignedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A port free on 127.0.0.1 right now, outside the ephemeral range when there is room: a server
 * that binds it seconds later (kwok, after the API server is up) must not find it taken by the
 * local end of some outgoing connection, which the kernel gives ports from that range.
 */
export async function freePort(): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const ranges = (
    [
      [10_000, lo - 1],
      [hi + 1, 65_535],
    ] as const
  ).filter(([a, b]) => b - a >= 1000);
  const size = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
  for (let attempt = 0; size > 0 && attempt < 100; attempt++) {
    let i = Math.floor(Math.random() * size);
    for (const [a, b] of ranges) {
      if (i <= b - a) {
        if (await isPortFree(a + i)) return a + i;
        break;
      }
      i -= b - a + 1;
    }
  }
  return osAssignedPort();
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
