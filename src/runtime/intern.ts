/**
 * One copy of the strings that repeat across cached objects. JSON.parse shares only strings of up
 * to 10 characters, so every cached object otherwise carries its own apiVersion, timestamps,
 * label values, condition types and reasons and images: at 5,000 Performers with their Pods and
 * Services, 55,000 timestamps alone, about a tenth of the operator's heap.
 */

/** Values held at most; past it the pool starts again (objects already cached keep their copy). */
const POOL_LIMIT = 16_384;
/** Longer values (an annotation holding a whole object) are rarely shared. */
const MAX_LENGTH = 256;
const pool = new Map<string, string>();

/** Property names whose string values repeat from object to object, wherever they appear. */
const REPEATED_VALUES = new Set([
  'apiVersion',
  'kind',
  'creationTimestamp',
  'deletionTimestamp',
  'lastTransitionTime',
  'lastProbeTime',
  'lastUpdateTime',
  'lastHeartbeatTime',
  'startedAt',
  'readyTime',
  'type',
  'reason',
  'phase',
  'image',
  'imageID',
]);
/** Maps and lists all of whose string values do. */
const REPEATED_MEMBERS = new Set(['labels', 'matchLabels', 'selector', 'finalizers']);

export function intern(s: string): string {
  // Up to 10 characters V8 already keeps one copy.
  if (s.length <= 10 || s.length > MAX_LENGTH) return s;
  const held = pool.get(s);
  if (held !== undefined) return held;
  if (pool.size >= POOL_LIMIT) pool.clear();
  pool.set(s, s);
  return s;
}

/** Replaces, in place, the repeated strings of an object about to be cached with pooled copies. */
export function internStrings<T>(obj: T): T {
  walk(obj as unknown, false);
  return obj;
}

function walk(value: unknown, allStrings: boolean): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i] as unknown;
      if (typeof v === 'string') {
        if (allStrings) value[i] = intern(v);
      } else if (v !== null && typeof v === 'object') walk(v, false);
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v === 'string') {
      if (allStrings || REPEATED_VALUES.has(k)) o[k] = intern(v);
    } else if (v !== null && typeof v === 'object') walk(v, REPEATED_MEMBERS.has(k));
  }
}
