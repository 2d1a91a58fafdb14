import {
  bundleKindFor,
  type ExpectationType,
  type ObjectType,
  type TargetCondition,
} from '../apis/nephio/bundles.js';
import { parseJsonStrict } from '../runtime/json.js';
import type { ExpectationContext, ExpectationTarget, IntentExpectation } from './expectation.js';
import { type Dimension, formatQuantity, parseQuantity, QuantityError } from './units.js';

/**
 * TMF921 Intent (v5) or the short form `{"intent": "5G network", "requirements": {...}}` →
 * 3GPP TS 28.312 IntentExpectations, one per requirement, with units normalised. The table below
 * is the whole mapping; docs/gitops.md shows it.
 */

export interface RequirementMapping {
  readonly attribute: string;
  readonly aliases: readonly string[];
  readonly expectationType: ExpectationType;
  readonly dimension: Dimension;
}

export const REQUIREMENTS: readonly RequirementMapping[] = [
  { attribute: 'latency', aliases: ['e2eLatency'], expectationType: 'ServiceCapacity', dimension: 'time' },
  { attribute: 'throughput', aliases: [], expectationType: 'ServiceCapacity', dimension: 'bitrate' },
  { attribute: 'maxSessions', aliases: ['sessions'], expectationType: 'ServiceCapacity', dimension: 'count' },
  {
    attribute: 'maxSubscribers',
    aliases: ['subscribers', 'users'],
    expectationType: 'ServiceCapacity',
    dimension: 'count',
  },
  { attribute: 'userThroughput', aliases: [], expectationType: 'ServicePerformance', dimension: 'bitrate' },
  {
    attribute: 'radioLatency',
    aliases: ['ranLatency'],
    expectationType: 'ServicePerformance',
    dimension: 'time',
  },
  {
    attribute: 'prbUtilization',
    aliases: ['prb'],
    expectationType: 'ServicePerformance',
    dimension: 'percent',
  },
  {
    attribute: 'handoverSuccessRate',
    aliases: ['handover'],
    expectationType: 'ServicePerformance',
    dimension: 'percent',
  },
  { attribute: 'packetLoss', aliases: [], expectationType: 'ServicePerformance', dimension: 'percent' },
  { attribute: 'availability', aliases: [], expectationType: 'ServiceCoverage', dimension: 'percent' },
  { attribute: 'reliability', aliases: [], expectationType: 'ServiceCoverage', dimension: 'percent' },
  { attribute: 'bandwidth', aliases: [], expectationType: 'ServiceCoverage', dimension: 'bitrate' },
  { attribute: 'jitter', aliases: [], expectationType: 'ServiceCoverage', dimension: 'time' },
];

/** Expectation id prefixes per type, as in the seed: cn-cap-001, ran-perf-001, tn-cov-001. */
export const ID_PREFIX: Record<ExpectationType, string> = {
  ServiceCapacity: 'cn-cap',
  ServicePerformance: 'ran-perf',
  ServiceCoverage: 'tn-cov',
};

/** The seed's edge site; objectInstance defaults to `<site>-core|ran|transport`. */
export const DEFAULT_SITE = 'edge1';
const INSTANCE_SUFFIX: Record<ObjectType, string> = {
  CoreNetwork: 'core',
  RANFunction: 'ran',
  TransportNetwork: 'transport',
};
export const DEFAULT_NETWORK_FUNCTIONS = ['gnb-cu', 'gnb-du'];
export const DEFAULT_TRANSPORT_NETWORKS = ['midhaul', 'backhaul'];

const OPERATORS: readonly [string, TargetCondition][] = [
  ['<=', 'LESS_THAN_OR_EQUAL'],
  ['≤', 'LESS_THAN_OR_EQUAL'],
  ['>=', 'GREATER_THAN_OR_EQUAL'],
  ['≥', 'GREATER_THAN_OR_EQUAL'],
  ['==', 'EQUAL'],
  ['<', 'LESS_THAN'],
  ['>', 'GREATER_THAN'],
  ['=', 'EQUAL'],
];
const CONDITION_NAMES = new Set<string>(OPERATORS.map(([, c]) => c));

export interface Problem {
  /** JSON path of the offending field, e.g. `requirements.latency`. */
  readonly field: string;
  readonly message: string;
}

/** Bad input: every problem found, each naming its field. */
export class TranslateError extends Error {
  override name = 'TranslateError';
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  }
}

/** The request after parsing: either input form ends up here. */
interface IntentRequest {
  id?: string;
  /** Where the id was given, for a problem with it. */
  idField: string;
  name: string;
  requirements: Record<string, unknown>;
  requirementsField: string;
  context?: unknown;
  site?: unknown;
  slice?: unknown;
  networkFunctions?: unknown;
  transportNetworks?: unknown;
  base: string;
}

const SHORT_FORM_FIELDS = new Set([
  'id',
  'intent',
  'requirements',
  'context',
  'site',
  'slice',
  'networkFunctions',
  'transportNetworks',
]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Room left in a 63-character label value for `<intent id>-ran-perf-001`. */
const MAX_INTENT_ID = 50;

export function isTmf921Intent(input: unknown): boolean {
  return isObject(input) && (input['@type'] === 'Intent' || 'expression' in input);
}

/** Translates either input form; throws TranslateError naming every bad field. */
export function translateIntent(input: unknown): IntentExpectation[] {
  const problems: Problem[] = [];
  const request = isTmf921Intent(input) ? fromTmf921(input, problems) : fromShortForm(input, problems);
  if (!request) throw new TranslateError(problems);
  const expectations = expand(request, problems);
  if (problems.length) throw new TranslateError(problems);
  return expectations;
}

function fromShortForm(input: unknown, problems: Problem[]): IntentRequest | undefined {
  if (!isObject(input)) {
    problems.push({
      field: '(root)',
      message: 'expected a JSON object: a TMF921 Intent or {"intent", "requirements"}',
    });
    return undefined;
  }
  for (const key of Object.keys(input)) {
    if (!SHORT_FORM_FIELDS.has(key)) {
      problems.push({
        field: key,
        message: `unknown field; expected one of ${[...SHORT_FORM_FIELDS].join(', ')}`,
      });
    }
  }
  if (typeof input['intent'] !== 'string' || !input['intent'].trim()) {
    problems.push({ field: 'intent', message: 'required: a short description such as "5G network"' });
  }
  if (!isObject(input['requirements'])) {
    problems.push({ field: 'requirements', message: 'required: an object such as {"latency": "<1ms"}' });
    return undefined;
  }
  return {
    ...pick(input),
    id: optionalString(input['id'], 'id', problems),
    idField: 'id',
    name: String(input['intent'] ?? ''),
    requirements: input['requirements'],
    requirementsField: 'requirements',
    base: '',
  };
}

function fromTmf921(input: unknown, problems: Problem[]): IntentRequest | undefined {
  const intent = input as Record<string, unknown>;
  if (intent['@type'] !== undefined && intent['@type'] !== 'Intent') {
    problems.push({ field: '@type', message: `"${String(intent['@type'])}" is not "Intent"` });
  }
  const expression = intent['expression'];
  if (!isObject(expression)) {
    problems.push({
      field: 'expression',
      message: 'required: {"@type", "expressionLanguage", "expressionValue"}',
    });
    return undefined;
  }
  const language = expression['expressionLanguage'];
  if (language !== undefined && !/^json(-ld)?$/i.test(String(language))) {
    problems.push({
      field: 'expression.expressionLanguage',
      message: `"${String(language)}" is not supported; use JSON or JSON-LD`,
    });
    return undefined;
  }
  let value = expression['expressionValue'];
  if (typeof value === 'string') {
    try {
      value = parseJsonStrict(value);
    } catch (err) {
      problems.push({ field: 'expression.expressionValue', message: `not JSON: ${(err as Error).message}` });
      return undefined;
    }
  }
  if (!isObject(value)) {
    problems.push({
      field: 'expression.expressionValue',
      message: 'required: an object with "requirements"',
    });
    return undefined;
  }
  const base = 'expression.expressionValue';
  for (const key of Object.keys(value)) {
    if (!key.startsWith('@') && !SHORT_FORM_FIELDS.has(key)) {
      problems.push({ field: `${base}.${key}`, message: 'unknown field' });
    }
  }
  if (!isObject(value['requirements'])) {
    problems.push({
      field: `${base}.requirements`,
      message: 'required: an object such as {"latency": "<1ms"}',
    });
    return undefined;
  }
  // The expression may name the intent too; two different ids would leave the expectations
  // labelled with one and the Intent known by the other.
  const intentId = optionalString(intent['id'], 'id', problems);
  const valueId = optionalString(value['id'], `${base}.id`, problems);
  if (intentId !== undefined && valueId !== undefined && intentId !== valueId)
    problems.push({
      field: `${base}.id`,
      message: `"${valueId}" differs from the Intent's id "${intentId}"; give one of them, or the same in both`,
    });
  return {
    ...pick(value),
    id: intentId ?? valueId,
    idField: intentId === undefined && valueId !== undefined ? `${base}.id` : 'id',
    name: typeof intent['name'] === 'string' ? intent['name'] : String(value['intent'] ?? ''),
    requirements: value['requirements'],
    requirementsField: `${base}.requirements`,
    base: `${base}.`,
  };
}

function pick(v: Record<string, unknown>) {
  return {
    context: v['context'],
    site: v['site'],
    slice: v['slice'],
    networkFunctions: v['networkFunctions'],
    transportNetworks: v['transportNetworks'],
  };
}

interface Constraint {
  field: string;
  mapping: RequirementMapping;
  condition: TargetCondition;
  value: number;
  text: string;
}

function expand(req: IntentRequest, problems: Problem[]): IntentExpectation[] {
  if (req.id !== undefined && (!DNS_LABEL.test(req.id) || req.id.length > MAX_INTENT_ID)) {
    problems.push({
      field: req.idField,
      message: `"${req.id}" must be lower-case letters, digits and '-', at most ${MAX_INTENT_ID} characters`,
    });
  }
  const site = labelField(req.site, `${req.base}site`, DEFAULT_SITE, problems);
  const slice = labelField(req.slice, `${req.base}slice`, slug(req.name) || 'default', problems);
  const networkFunctions = stringList(req.networkFunctions, `${req.base}networkFunctions`, problems);
  const transportNetworks = stringList(req.transportNetworks, `${req.base}transportNetworks`, problems);
  const contexts = parseContext(req.context, `${req.base}context`, problems);

  const constraints: Constraint[] = [];
  const entries = Object.entries(req.requirements);
  if (entries.length === 0) problems.push({ field: req.requirementsField, message: 'no requirements given' });
  for (const [key, raw] of entries) {
    const field = `${req.requirementsField}.${key}`;
    const mapping = findMapping(key);
    if (!mapping) {
      problems.push({
        field,
        message: `unknown requirement; known: ${REQUIREMENTS.map((r) => r.attribute).join(', ')}`,
      });
      continue;
    }
    const values = Array.isArray(raw) ? raw : [raw];
    if (values.length === 0)
      problems.push({ field, message: 'an empty list: give a constraint, or two for a range' });
    values.forEach((v, i) => {
      const f = Array.isArray(raw) ? `${field}[${i}]` : field;
      const c = parseConstraint(v, f, mapping, problems);
      if (c) constraints.push(c);
    });
  }
  checkContradictions(constraints, problems);

  const counters = new Map<ExpectationType, number>();
  return constraints.map((c) => {
    const type = c.mapping.expectationType;
    const n = (counters.get(type) ?? 0) + 1;
    counters.set(type, n);
    const info = bundleKindFor(type);
    const localId = `${ID_PREFIX[type]}-${String(n).padStart(3, '0')}`;
    const target: ExpectationTarget = {
      targetAttribute: c.mapping.attribute,
      targetCondition: c.condition,
      targetValue: formatQuantity({ value: c.value, dimension: c.mapping.dimension }),
    };
    const members =
      info.members === 'networkSlices'
        ? [slice]
        : info.members === 'networkFunctions'
          ? (networkFunctions ?? DEFAULT_NETWORK_FUNCTIONS)
          : (transportNetworks ?? DEFAULT_TRANSPORT_NETWORKS);
    return {
      intentExpectationId: req.id ? `${req.id}-${localId}` : localId,
      intentExpectationType: type,
      intentExpectationContext: contexts,
      intentExpectationTarget: target,
      intentExpectationObject: {
        objectType: info.objectType,
        objectInstance: `${site}-${INSTANCE_SUFFIX[info.objectType]}`,
      },
      ...(req.id ? { intentId: req.id } : {}),
      members: [...members],
    };
  });
}

function findMapping(key: string): RequirementMapping | undefined {
  const k = normaliseKey(key);
  return REQUIREMENTS.find(
    (r) => normaliseKey(r.attribute) === k || r.aliases.some((a) => normaliseKey(a) === k),
  );
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function parseConstraint(
  raw: unknown,
  field: string,
  mapping: RequirementMapping,
  problems: Problem[],
): Constraint | undefined {
  let condition: TargetCondition | undefined;
  let text: string;
  if (isObject(raw)) {
    const c = raw['condition'];
    if (typeof c !== 'string' || !CONDITION_NAMES.has(c)) {
      problems.push({
        field: `${field}.condition`,
        message: `expected one of ${[...CONDITION_NAMES].join(', ')}`,
      });
      return undefined;
    }
    condition = c as TargetCondition;
    text = String(raw['value'] ?? '');
  } else if (typeof raw === 'string' || typeof raw === 'number') {
    text = String(raw).trim();
    const op = OPERATORS.find(([o]) => text.startsWith(o));
    condition = op ? op[1] : 'EQUAL';
    if (op) text = text.slice(op[0].length).trim();
  } else {
    problems.push({ field, message: 'expected a string such as "<1ms" or {"condition", "value"}' });
    return undefined;
  }
  if (typeof raw === 'number' && mapping.dimension !== 'count') {
    problems.push({ field, message: `${raw} has no unit; write it as a string with a unit` });
    return undefined;
  }
  try {
    const q = parseQuantity(text, mapping.dimension);
    return { field, mapping, condition, value: q.value, text: String(isObject(raw) ? raw['value'] : raw) };
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    problems.push({ field, message: err.message });
    return undefined;
  }
}

/** Two constraints on one attribute that no value satisfies together are a contradiction. */
function checkContradictions(constraints: readonly Constraint[], problems: Problem[]): void {
  const byAttribute = new Map<string, Constraint[]>();
  for (const c of constraints)
    byAttribute.set(c.mapping.attribute, [...(byAttribute.get(c.mapping.attribute) ?? []), c]);
  for (const list of byAttribute.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (!satisfiableTogether(a, b)) {
          problems.push({
            field: b.field,
            message: `contradicts ${a.field}: ${a.mapping.attribute} cannot be ${describe(a)} and ${describe(b)}`,
          });
        } else if (a.condition === b.condition && a.value === b.value) {
          problems.push({ field: b.field, message: `repeats ${a.field}` });
        }
      }
    }
  }
}

function describe(c: Constraint): string {
  return `${c.condition} ${formatQuantity({ value: c.value, dimension: c.mapping.dimension })}`;
}

interface Interval {
  lo: number;
  loOpen: boolean;
  hi: number;
  hiOpen: boolean;
}

function interval(c: Constraint): Interval {
  switch (c.condition) {
    case 'LESS_THAN':
      return { lo: Number.NEGATIVE_INFINITY, loOpen: true, hi: c.value, hiOpen: true };
    case 'LESS_THAN_OR_EQUAL':
      return { lo: Number.NEGATIVE_INFINITY, loOpen: true, hi: c.value, hiOpen: false };
    case 'GREATER_THAN':
      return { lo: c.value, loOpen: true, hi: Number.POSITIVE_INFINITY, hiOpen: true };
    case 'GREATER_THAN_OR_EQUAL':
      return { lo: c.value, loOpen: false, hi: Number.POSITIVE_INFINITY, hiOpen: true };
    case 'EQUAL':
      return { lo: c.value, loOpen: false, hi: c.value, hiOpen: false };
  }
}

function satisfiableTogether(a: Constraint, b: Constraint): boolean {
  const x = interval(a);
  const y = interval(b);
  const lo = Math.max(x.lo, y.lo);
  const hi = Math.min(x.hi, y.hi);
  if (lo < hi) return true;
  if (lo > hi) return false;
  const loOpen = (x.lo === lo && x.loOpen) || (y.lo === lo && y.loOpen);
  const hiOpen = (x.hi === hi && x.hiOpen) || (y.hi === hi && y.hiOpen);
  return !loOpen && !hiOpen;
}

function parseContext(raw: unknown, field: string, problems: Problem[]): ExpectationContext[] {
  if (raw === undefined) return [];
  if (!isObject(raw)) {
    problems.push({ field, message: 'expected an object such as {"area": "edge1"}' });
    return [];
  }
  const contexts: ExpectationContext[] = [];
  for (const [attribute, value] of Object.entries(raw)) {
    if (typeof value === 'string' && value) {
      contexts.push({ contextAttribute: attribute, contextCondition: 'EQUAL', contextValueRange: [value] });
    } else if (Array.isArray(value) && value.length && value.every((v) => typeof v === 'string' && v)) {
      contexts.push({ contextAttribute: attribute, contextCondition: 'ONE_OF', contextValueRange: value });
    } else {
      problems.push({ field: `${field}.${attribute}`, message: 'expected a string or a list of strings' });
    }
  }
  return contexts;
}

function labelField(raw: unknown, field: string, fallback: string, problems: Problem[]): string {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !DNS_LABEL.test(raw) || raw.length > 40) {
    problems.push({ field, message: 'expected lower-case letters, digits and "-", at most 40 characters' });
    return fallback;
  }
  return raw;
}

function stringList(raw: unknown, field: string, problems: Problem[]): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((v) => typeof v === 'string' && v)) {
    problems.push({ field, message: 'expected a non-empty list of names' });
    return undefined;
  }
  return raw;
}

function optionalString(raw: unknown, field: string, problems: Problem[]): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') {
    problems.push({ field, message: 'expected a string' });
    return undefined;
  }
  return raw;
}

/** `5G network` → `5g-network`. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
