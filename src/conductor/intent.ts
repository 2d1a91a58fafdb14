import { createHash } from 'node:crypto';
import {
  NETWORK_INTENT_API_VERSION,
  type NetworkIntent,
  type NetworkIntentSpec,
} from '../apis/intent.nephoran.com/network-intent.js';

/** An intent file's document, as the schema (docs/contracts/intent.schema.json) admits it. */
export interface Intent {
  intent_type: 'scaling' | 'deployment' | 'configuration';
  target: string;
  namespace: string;
  replicas: number;
  reason?: string;
  source?: 'user' | 'planner' | 'test' | '';
  correlation_id?: string;
  priority?: number;
  constraints?: {
    min_replicas?: number;
    max_replicas?: number;
    allowed_namespaces?: string[];
    kpt_package_name?: string;
    porch_repository?: string;
  };
  created_at?: string;
  updated_at?: string;
  status?: string;
  target_resources?: string[];
  description?: string;
  nephio_context?: Record<string, unknown>;
}

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'nephoran-conductor';
export const INTENT_TYPE_LABEL = 'nephoran.com/intent-type';
export const TARGET_LABEL = 'nephoran.com/target';
export const REASON_ANNOTATION = 'nephoran.com/reason';
export const CORRELATION_ID_ANNOTATION = 'nephoran.com/correlation-id';

/** The target's part of a CR name: DNS-1123 leaves room for `intent-` and the hash within 63. */
const MAX_TARGET_IN_NAME = 40;
/** The source written when a file gives none (the seed wrote `conductor-loop`, which its own controller rejects). */
export const DEFAULT_SOURCE = 'user';

/** Lower-case, `[a-z0-9-]` only, no leading or trailing dash; empty becomes `intent`. */
export function dns1123(text: string, max = 63): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return label || 'intent';
}

/** Sorted-key JSON, so that two files with the same intent in another layout hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function intentHash(intent: Intent): string {
  return createHash('sha256').update(canonicalJson(intent)).digest('hex');
}

/**
 * `intent-<dns1123(target) cut to 40>-<8 hex of the content hash>`: the same intent always gets
 * the same name, so a resubmission meets AlreadyExists instead of making a duplicate.
 */
export function networkIntentName(intent: Intent): string {
  return `intent-${dns1123(intent.target, MAX_TARGET_IN_NAME)}-${intentHash(intent).slice(0, 8)}`;
}

/** A label value: the text itself when valid, else its DNS-1123 form (labels allow 63 characters). */
function labelValue(text: string): string {
  return /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(text) && text.length <= 63
    ? text
    : dns1123(text);
}

export function networkIntentSpec(intent: Intent): NetworkIntentSpec {
  const spec: NetworkIntentSpec = {
    intentType: intent.intent_type,
    target: intent.target,
    namespace: intent.namespace,
    replicas: intent.replicas,
    source: intent.source || DEFAULT_SOURCE,
  };
  const c = intent.constraints;
  if (c?.min_replicas !== undefined || c?.max_replicas !== undefined) {
    spec.scalingParameters = {
      ...(c.min_replicas !== undefined ? { minReplicas: c.min_replicas } : {}),
      ...(c.max_replicas !== undefined ? { maxReplicas: c.max_replicas } : {}),
    };
  }
  return spec;
}

/** The NetworkIntent the loop creates for an intent: the seed's spec, labels and annotations. */
export function toNetworkIntent(intent: Intent): NetworkIntent {
  const annotations: Record<string, string> = {};
  if (intent.reason) annotations[REASON_ANNOTATION] = intent.reason;
  if (intent.correlation_id) annotations[CORRELATION_ID_ANNOTATION] = intent.correlation_id;
  return {
    apiVersion: NETWORK_INTENT_API_VERSION,
    kind: 'NetworkIntent',
    metadata: {
      name: networkIntentName(intent),
      namespace: intent.namespace,
      labels: {
        [MANAGED_BY_LABEL]: MANAGED_BY,
        [INTENT_TYPE_LABEL]: intent.intent_type,
        [TARGET_LABEL]: labelValue(intent.target),
      },
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    spec: networkIntentSpec(intent),
  };
}
