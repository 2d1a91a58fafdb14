/** TMF921 Intent Management API v5: the Intent resource as this service stores and returns it. */

export const LIFECYCLE_STATUSES = ['acknowledged', 'inProgress', 'fulfilled', 'failed'] as const;
export type LifecycleStatus = (typeof LIFECYCLE_STATUSES)[number];

export const INTENT_PATH = '/tmf-api/intentManagement/v5/intent';

export interface Characteristic {
  name: string;
  valueType: string;
  value: unknown;
  '@type': 'Characteristic';
}

/** The Intent as returned: what the client posted, plus the fields the server owns. */
export interface IntentResource {
  id: string;
  href: string;
  '@type': string;
  name?: string;
  lifecycleStatus: LifecycleStatus;
  creationDate: string;
  lastUpdate: string;
  statusChangeDate: string;
  /** The expectations it became, the commit carrying them, and what the edge last reported. */
  characteristic: Characteristic[];
  [field: string]: unknown;
}

/** What the service keeps per intent. */
export interface IntentRecord {
  /** The body as posted, with its id. */
  intent: Record<string, unknown>;
  id: string;
  lifecycleStatus: LifecycleStatus;
  statusMessage: string;
  expectationIds: string[];
  commit?: string;
  /** Digest of the expectations last published for it: a publish leaves its status alone unless they changed. */
  publishedDigest?: string;
  creationDate: string;
  lastUpdate: string;
  statusChangeDate: string;
}

export function toResource(r: IntentRecord): IntentResource {
  const chars: Characteristic[] = [
    { name: 'intentExpectationIds', valueType: 'array', value: r.expectationIds, '@type': 'Characteristic' },
    { name: 'statusMessage', valueType: 'string', value: r.statusMessage, '@type': 'Characteristic' },
  ];
  if (r.commit)
    chars.push({ name: 'gitCommit', valueType: 'string', value: r.commit, '@type': 'Characteristic' });
  return {
    ...r.intent,
    id: r.id,
    href: `${INTENT_PATH}/${r.id}`,
    '@type': (r.intent['@type'] as string | undefined) ?? 'Intent',
    lifecycleStatus: r.lifecycleStatus,
    creationDate: r.creationDate,
    lastUpdate: r.lastUpdate,
    statusChangeDate: r.statusChangeDate,
    characteristic: chars,
  };
}
