import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Intent } from './intent.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The bundled intent contract (docs/contracts/intent.schema.json), used when --schema is not given. */
export const BUNDLED_SCHEMA = new URL('../../docs/contracts/intent.schema.json', import.meta.url);

export type ValidationResult = { ok: true; intent: Intent } | { ok: false; errors: string[] };

/**
 * Validates intents against a JSON Schema compiled once at start-up. Errors read as the seed's
 * validator printed them (`at '/source': value must be one of 'user', 'planner', 'test', ''`),
 * one line per location and kind of failure, every failure reported.
 */
export class IntentValidator {
  private constructor(
    private readonly validateFn: ValidateFunction,
    readonly source: string,
  ) {}

  /** Loads and compiles a schema file; a schema that cannot be read or compiled fails loudly. */
  static load(path: string | URL = BUNDLED_SCHEMA): IntentValidator {
    const where = path instanceof URL ? path.pathname : path;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`--schema: cannot read ${where}: ${(err as Error).message}`);
    }
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (err) {
      throw new Error(`--schema: ${where} is not JSON: ${(err as Error).message}`);
    }
    return IntentValidator.compile(schema, where);
  }

  static compile(schema: unknown, source = 'inline schema'): IntentValidator {
    if (!schema || typeof schema !== 'object') throw new Error(`--schema: ${source} is not a JSON object`);
    // No useDefaults: the CR name hashes the intent as written. Strict off so that draft-07
    // schemas with extra keywords load.
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
    addFormats(ajv);
    try {
      return new IntentValidator(ajv.compile(schema as object), source);
    } catch (err) {
      throw new Error(`--schema: ${source} does not compile: ${(err as Error).message}`);
    }
  }

  /** Validates a parsed document; on success the document is the intent. */
  validate(doc: unknown): ValidationResult {
    if (this.validateFn(doc)) return { ok: true, intent: doc as Intent };
    return { ok: false, errors: formatErrors(this.validateFn.errors ?? []) };
  }
}

const quote = (values: readonly unknown[]) =>
  values.map((v) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v))).join(', ');

/** Ajv's errors in the seed's wording, grouped so one object's missing properties make one line. */
export function formatErrors(errors: readonly ErrorObject[]): string[] {
  const missing = new Map<string, string[]>();
  const extra = new Map<string, string[]>();
  const lines: [string, string][] = [];
  for (const e of errors) {
    const at = e.instancePath;
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required':
        push(missing, at, p['missingProperty'] as string);
        continue;
      case 'additionalProperties':
        push(extra, at, p['additionalProperty'] as string);
        continue;
      case 'enum': {
        const allowed = p['allowedValues'] as unknown[];
        lines.push([
          at,
          allowed.length === 1 ? `value must be ${quote(allowed)}` : `value must be one of ${quote(allowed)}`,
        ]);
        continue;
      }
      case 'type':
        lines.push([at, `got ${jsonType(e.data)}, want ${p['type']}`]);
        continue;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        lines.push([at, `must be ${p['comparison']} ${p['limit']} but found ${JSON.stringify(e.data)}`]);
        continue;
      case 'minLength':
        lines.push([at, `length must be >= ${p['limit']}, but got ${String(e.data).length}`]);
        continue;
      case 'maxLength':
        lines.push([at, `length must be <= ${p['limit']}, but got ${String(e.data).length}`]);
        continue;
      case 'format':
        lines.push([at, `${JSON.stringify(e.data)} is not valid ${p['format']}`]);
        continue;
      default:
        lines.push([at, e.message ?? e.keyword]);
    }
  }
  for (const [at, names] of missing) {
    lines.push([at, `missing ${names.length === 1 ? 'property' : 'properties'} ${quote(names)}`]);
  }
  for (const [at, names] of extra) {
    lines.push([
      at,
      `additional ${names.length === 1 ? 'property' : 'properties'} ${quote(names)} not allowed`,
    ]);
  }
  // Stable order: by location, and the object-level lines of the seed first (missing, then extra).
  const order = (msg: string) => (msg.startsWith('missing') ? 0 : msg.startsWith('additional') ? 1 : 2);
  lines.sort(([a, ma], [b, mb]) => (a === b ? order(ma) - order(mb) : a < b ? -1 : 1));
  return lines.map(([at, msg]) => `at '${at}': ${msg}`);
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
