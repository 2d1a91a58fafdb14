import { createHash } from 'node:crypto';

/**
 * A name within `max` characters: kept as is when it fits, otherwise cut and suffixed with a hash
 * of the whole, so long bundle or expectation ids still give distinct, valid object names.
 */
export function boundedName(name: string, max = 63): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - 9).replace(/[-.]+$/, '')}-${hash}`;
}
