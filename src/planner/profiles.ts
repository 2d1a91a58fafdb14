import type { DefaultQuery, KpiProfile, KpiType } from '../apis/ido.intel.com/kpi-profile.js';

/** A KPIProfile the planner can measure: its query and where to send it, or why it cannot. */
export type ResolvedProfile =
  | {
      resolved: true;
      key: string;
      type: KpiType;
      minimize: boolean;
      query: string;
      endpoint: string;
      /** Something that is probably a mistake, for the profile's status.reason. */
      warning?: string;
    }
  | { resolved: false; key: string; type: KpiType; minimize: boolean; reason: string };

/**
 * Resolves a profile as IDO does: the queries ConfigMap (keyed `<namespace>/<name>`) wins, then
 * the profile's own `query` and `props.endpoint`. Availability needs neither: the planner
 * computes it from the target's pods.
 */
export function resolveProfile(
  profile: KpiProfile,
  defaultQueries: Readonly<Record<string, DefaultQuery>>,
): ResolvedProfile {
  const key = `${profile.metadata?.namespace ?? 'default'}/${profile.metadata?.name ?? ''}`;
  const type = profile.spec.type;
  const minimize = profile.spec.minimize ?? true;
  const base = { key, type, minimize };
  // IDO's CRD defaults minimize to true for every type, and a defaulted true cannot be told from
  // a written one; so it stays, but a KPI that is better higher gets a warning.
  const warning =
    minimize && (type === 'availability' || type === 'throughput')
      ? `minimize is true (the default) for ${type === 'availability' ? 'an' : 'a'} ${type} KPI: objectives on it are upper bounds (want ≤ value); set minimize: false for a lower bound`
      : undefined;
  const ok = { ...base, resolved: true as const, ...(warning ? { warning } : {}) };
  if (type === 'availability') return { ...ok, query: '', endpoint: '' };
  const fallback = defaultQueries[key];
  const query = fallback?.query || profile.spec.query || '';
  const rawEndpoint = fallback?.endpoint || profile.spec.props?.['endpoint'];
  if (rawEndpoint !== undefined && rawEndpoint !== null && typeof rawEndpoint !== 'string')
    return {
      ...base,
      resolved: false,
      reason: `profile ${key}: spec.props.endpoint must be a string (the Prometheus query URL), got ${typeof rawEndpoint} ${JSON.stringify(rawEndpoint)}`,
    };
  const endpoint = rawEndpoint ?? '';
  if (!query) return { ...base, resolved: false, reason: `profile ${key} has no query (spec.query)` };
  if (!endpoint)
    return {
      ...base,
      resolved: false,
      reason: `profile ${key} has no Prometheus endpoint (spec.props.endpoint)`,
    };
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    return {
      ...base,
      resolved: false,
      reason: `profile ${key}: endpoint "${endpoint}" is not an http(s) URL`,
    };
  }
  return { ...ok, query, endpoint };
}

/**
 * Fills IDO's `%s` placeholders: namespace, the label naming the target's kind (`deployment` or
 * `replicaset`, as Linkerd labels pods), the target's name, the same label again.
 */
export function formatQuery(query: string, namespace: string, kindLabel: string, name: string): string {
  const values = [namespace, kindLabel, name, kindLabel];
  let i = 0;
  return query.replace(/%s/g, () => values[Math.min(i++, values.length - 1)]!);
}
