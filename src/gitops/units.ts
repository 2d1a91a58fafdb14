/**
 * Quantities in requirements (`1ms`, `1Gbps`, `99.999%`), parsed and normalised to one canonical
 * unit per dimension so that equal requirements render identically: time in ms, bit rate in Mbps,
 * ratios in %, counts bare.
 */

export type Dimension = 'time' | 'bitrate' | 'percent' | 'count';

export const CANONICAL_UNIT: Record<Dimension, string> = {
  time: 'ms',
  bitrate: 'Mbps',
  percent: '%',
  count: '',
};

/** Factor from each accepted unit (lower-cased) to the dimension's canonical unit. */
const UNITS: Record<Dimension, Record<string, number>> = {
  time: { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, sec: 1000, min: 60_000 },
  bitrate: {
    bps: 1e-6,
    kbps: 1e-3,
    mbps: 1,
    gbps: 1e3,
    tbps: 1e6,
    'kbit/s': 1e-3,
    'mbit/s': 1,
    'gbit/s': 1e3,
  },
  percent: { '%': 1 },
  count: { '': 1 },
};

export interface Quantity {
  /** The value in the canonical unit. */
  readonly value: number;
  readonly dimension: Dimension;
}

export class QuantityError extends Error {
  override name = 'QuantityError';
}

const NUMBER_AND_UNIT = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-zµ%/]*)$/i;

/** Parses `12.5 ms` / `1Gbps` / `99.9%` / `500` as a quantity of `dimension`. */
export function parseQuantity(text: string, dimension: Dimension): Quantity {
  const m = NUMBER_AND_UNIT.exec(text.trim());
  if (!m) throw new QuantityError(`"${text}" is not a number with a unit`);
  const value = Number(m[1]);
  const unit = m[2]!;
  const factor = UNITS[dimension][unit.toLowerCase()];
  if (factor === undefined) {
    const accepted = Object.keys(UNITS[dimension]).filter(Boolean);
    throw new QuantityError(
      unit === ''
        ? `"${text}" has no unit; use one of ${accepted.join(', ')}`
        : `"${unit}" is not a unit of ${dimension === 'count' ? 'a count (give a bare number)' : dimension}` +
            (accepted.length ? `; use one of ${accepted.join(', ')}` : ''),
    );
  }
  if (value < 0) throw new QuantityError(`"${text}" is negative`);
  // Past Number.MAX_VALUE (as written or once scaled) a value is Infinity, which would render as "InfinityMbps".
  if (!Number.isFinite(value * factor)) throw new QuantityError(`"${text}" is too large`);
  if (dimension === 'percent' && value > 100) throw new QuantityError(`"${text}" is more than 100%`);
  if (dimension === 'count' && !Number.isInteger(value))
    throw new QuantityError(`"${text}" is not a whole number`);
  return { value: clean(value * factor), dimension };
}

/** The canonical text of a quantity: `1000Mbps`, `0.5ms`, `99.999%`, `200`. */
export function formatQuantity(q: Quantity): string {
  return `${clean(q.value)}${CANONICAL_UNIT[q.dimension]}`;
}

/** Drops binary floating-point noise (0.1 * 1e3 = 100.00000000000001) from a scaled value. */
function clean(n: number): number {
  return Number(n.toPrecision(12));
}
