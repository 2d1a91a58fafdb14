import { parse, stringify } from 'yaml';
import type { KubeObject } from '../runtime/client/types.js';
import { parseJsonStrict } from '../runtime/json.js';
import type { IntentExpectation } from './expectation.js';
import { expectationProblems } from './expectation-schema.js';
import { expectationsFrom } from './input.js';
import { APP_FILES, LABEL_ID, renderExpectation } from './render.js';
import { TranslateError } from './translate.js';

/**
 * The kpt function (`tutti gitops fn`): reads a KRM ResourceList, renders every expectation in it
 * into its ConfigMap and bundle, and writes the ResourceList back with results for bad input.
 *
 * Sources are ConfigMaps holding `intent.json` (a TMF921 Intent or the short form) or
 * `expectation.json` (one 28.312 expectation, as `render` writes it). Objects carrying the
 * `expectation.nephio.org/id` label are the function's own output and are regenerated, so running
 * it twice changes nothing. Generated objects go to the seed's files (apps/intent/*.yaml).
 */

export interface ResourceList {
  apiVersion: 'config.kubernetes.io/v1';
  kind: 'ResourceList';
  items: KubeObject[];
  functionConfig?: KubeObject;
  results?: FnResult[];
}

export interface FnResult {
  message: string;
  severity: 'error' | 'warning' | 'info';
  resourceRef?: { apiVersion?: string; kind?: string; name?: string; namespace?: string };
  field?: { path: string };
  file?: { path: string; index?: number };
}

const PATH = 'internal.config.kubernetes.io/path';
const INDEX = 'internal.config.kubernetes.io/index';
const LEGACY_PATH = 'config.kubernetes.io/path';
const LEGACY_INDEX = 'config.kubernetes.io/index';
/** On objects generated from an intent ConfigMap: its name, so the next run regenerates them. */
export const ANNOTATION_SOURCE = 'gitops.tutti.dev/source-intent';

interface ConfigMapLike extends KubeObject {
  data?: Record<string, string>;
}

function annotations(o: KubeObject): Record<string, string> {
  return o.metadata?.annotations ?? {};
}

function isGenerated(o: KubeObject): boolean {
  return o.metadata?.labels?.[LABEL_ID] !== undefined;
}

function ref(o: KubeObject): FnResult['resourceRef'] {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.metadata?.name,
    ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
  };
}

function fileOf(o: KubeObject): FnResult['file'] | undefined {
  const a = annotations(o);
  const path = a[PATH] ?? a[LEGACY_PATH];
  if (!path) return undefined;
  const index = a[INDEX] ?? a[LEGACY_INDEX];
  return { path, ...(index !== undefined ? { index: Number(index) } : {}) };
}

/** What a value is, for a message: "a string", "null", "a list". */
function kindOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `a ${typeof v}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * What makes `item` no KRM object, as the KRM function spec requires of every item (apiVersion,
 * kind, metadata.name; labels and annotations maps of strings). Empty when it is one.
 */
function krmProblems(item: unknown): { field?: string; message: string }[] {
  if (!isRecord(item)) return [{ message: `expected a KRM object, got ${kindOfValue(item)}` }];
  const problems: { field?: string; message: string }[] = [];
  for (const key of ['apiVersion', 'kind'] as const) {
    const v = item[key];
    if (typeof v !== 'string' || v === '') {
      problems.push({
        field: key,
        message: v === undefined ? 'required' : `expected a string, got ${kindOfValue(v)}`,
      });
    }
  }
  const metadata = item['metadata'];
  if (!isRecord(metadata)) {
    problems.push({
      field: 'metadata',
      message:
        metadata === undefined ? 'required (with name)' : `expected a map, got ${kindOfValue(metadata)}`,
    });
    return problems;
  }
  const name = metadata['name'];
  if (typeof name !== 'string' || name === '') {
    problems.push({
      field: 'metadata.name',
      message: name === undefined ? 'required' : `expected a string, got ${kindOfValue(name)}`,
    });
  }
  for (const key of ['labels', 'annotations'] as const) {
    const map = metadata[key];
    if (map === undefined || map === null) continue;
    if (!isRecord(map)) {
      problems.push({
        field: `metadata.${key}`,
        message: `expected a map of strings, got ${kindOfValue(map)}`,
      });
      continue;
    }
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') {
        problems.push({ field: `metadata.${key}.${k}`, message: `expected a string, got ${kindOfValue(v)}` });
      }
    }
  }
  // A source ConfigMap's data is read below: a value that is no string would be read wrong.
  if (item['kind'] === 'ConfigMap' && item['data'] !== undefined && item['data'] !== null) {
    const data = item['data'];
    if (!isRecord(data)) {
      problems.push({ field: 'data', message: `expected a map of strings, got ${kindOfValue(data)}` });
    } else {
      for (const [k, v] of Object.entries(data)) {
        if (typeof v !== 'string') {
          problems.push({ field: `data.${k}`, message: `expected a string, got ${kindOfValue(v)}` });
        }
      }
    }
  }
  return problems;
}

/** Reads sources, renders, and returns the new ResourceList; `ok` is false when any result is an error. */
export function runFunction(input: ResourceList): { output: ResourceList; ok: boolean } {
  const results: FnResult[] = [];
  const kept: KubeObject[] = [];
  const expectations: Sourced[] = [];

  // Malformed input is reported, item by item, never thrown: a thrown error gives kpt no results.
  const rawItems: unknown = input.items;
  let items: unknown[] = [];
  if (Array.isArray(rawItems)) items = rawItems;
  else if (rawItems !== undefined && rawItems !== null) {
    results.push({
      severity: 'error',
      message: `items: expected a list of KRM objects, got ${kindOfValue(rawItems)}`,
    });
  }
  const config: unknown = input.functionConfig;
  if (config !== undefined && config !== null && !isRecord(config)) {
    results.push({
      severity: 'error',
      message: `functionConfig: expected a KRM object or none (this function takes no configuration), got ${kindOfValue(config)}`,
    });
  }

  items.forEach((item, i) => {
    const problems = krmProblems(item);
    if (problems.length) {
      const o = isRecord(item) ? (item as KubeObject) : undefined;
      const named = o && typeof o.kind === 'string' && typeof o.metadata?.name === 'string';
      const file = o && isRecord(o.metadata) && isRecord(o.metadata.annotations) ? fileOf(o) : undefined;
      for (const p of problems) {
        results.push({
          severity: 'error',
          message: `items[${i}]${p.field ? `.${p.field}` : ''}: ${p.message}`,
          ...(named ? { resourceRef: ref(o) } : {}),
          ...(p.field ? { field: { path: p.field } } : {}),
          ...(file ? { file } : {}),
        });
      }
      return;
    }
    const cm = item as ConfigMapLike;
    const data = cm.kind === 'ConfigMap' && cm.apiVersion === 'v1' ? (cm.data ?? undefined) : undefined;
    if (data?.['intent.json'] !== undefined) {
      kept.push(cm);
      collect(cm, 'intent.json', expectations, results);
    } else if (isGenerated(cm) && annotations(cm)[ANNOTATION_SOURCE]) {
      // Output of an intent in the package: regenerated from it, or gone with it.
    } else if (data?.['expectation.json'] !== undefined) {
      // An expectation ConfigMap, hand-written or rendered: re-rendered in canonical form.
      collect(cm, 'expectation.json', expectations, results);
    } else if (!isGenerated(cm)) kept.push(cm);
  });

  const byId = new Map<string, Sourced>();
  for (const s of expectations) {
    const id = s.expectation.intentExpectationId;
    const first = byId.get(id);
    if (first) {
      results.push({
        severity: 'error',
        message: `expectation id ${id} comes from both ConfigMap ${first.from} and ConfigMap ${s.from}`,
        resourceRef: ref(s.item),
      });
    } else byId.set(id, s);
  }
  const unique = [...byId.values()].sort((a, b) =>
    a.expectation.intentExpectationId < b.expectation.intentExpectationId ? -1 : 1,
  );
  const generated: KubeObject[] = [];
  const perFile = new Map<string, number>();
  for (const { expectation, intent } of unique) {
    const path = APP_FILES[expectation.intentExpectationType];
    for (const obj of renderExpectation(expectation)) {
      const index = perFile.get(path) ?? 0;
      perFile.set(path, index + 1);
      obj.metadata!.annotations = {
        ...obj.metadata!.annotations,
        ...(intent ? { [ANNOTATION_SOURCE]: intent } : {}),
        [PATH]: path,
        [INDEX]: String(index),
      };
      generated.push(obj);
    }
  }
  if (results.length === 0) {
    results.push({
      severity: 'info',
      message: `rendered ${unique.length} expectations into ${generated.length} objects`,
    });
  }
  const ok = !results.some((r) => r.severity === 'error');
  return {
    output: {
      apiVersion: 'config.kubernetes.io/v1',
      kind: 'ResourceList',
      // On error the package is left as it was, every item kept: kpt discards the output anyway.
      items: ok ? [...kept, ...generated] : (items as KubeObject[]),
      ...(input.functionConfig ? { functionConfig: input.functionConfig } : {}),
      results,
    },
    ok,
  };
}

interface Sourced {
  expectation: IntentExpectation;
  /** The ConfigMap it was read from. */
  from: string;
  item: KubeObject;
  /** Set when it was translated from an intent ConfigMap. */
  intent?: string;
}

function collect(
  cm: ConfigMapLike,
  key: 'intent.json' | 'expectation.json',
  sink: Sourced[],
  results: FnResult[],
): void {
  const from = cm.metadata?.name ?? '(no name)';
  const out = {
    push: (...es: IntentExpectation[]) => {
      for (const expectation of es) {
        sink.push({ expectation, from, item: cm, ...(key === 'intent.json' ? { intent: from } : {}) });
      }
    },
  };
  const base = `data.${key}`;
  const fail = (message: string, field = base) =>
    results.push({
      severity: 'error',
      message,
      resourceRef: ref(cm),
      field: { path: field },
      ...(fileOf(cm) ? { file: fileOf(cm)! } : {}),
    });
  let value: unknown;
  try {
    value = parseJsonStrict(cm.data![key]!);
  } catch (err) {
    fail(`not JSON: ${(err as Error).message}`);
    return;
  }
  if (key === 'expectation.json') {
    const problems = expectationProblems(value, '');
    for (const p of problems) fail(p.message, `${base}.${p.field}`.replace(/\.\(root\)$/, ''));
    if (problems.length === 0) out.push(value as IntentExpectation);
    return;
  }
  try {
    out.push(...expectationsFrom(value));
  } catch (err) {
    if (!(err instanceof TranslateError)) throw err;
    for (const p of err.problems) fail(p.message, `${base}.${p.field}`);
  }
}

/** The function as a process: ResourceList YAML (or JSON) on stdin, YAML on stdout. */
export async function runFunctionProcess(
  stdin: NodeJS.ReadableStream,
  stdout: NodeJS.WritableStream,
): Promise<number> {
  // Decoded once, whole: a multi-byte character may be split between two reads.
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  let input: ResourceList;
  try {
    input = parse(text) as ResourceList;
  } catch (err) {
    process.stderr.write(`tutti gitops fn: stdin is not YAML: ${(err as Error).message}\n`);
    return 1;
  }
  if (input?.kind !== 'ResourceList') {
    process.stderr.write('tutti gitops fn: stdin is not a ResourceList (kind: ResourceList, items: [...])\n');
    return 1;
  }
  const { output, ok } = runFunction(input);
  stdout.write(stringify(output, { lineWidth: 0 }));
  return ok ? 0 : 1;
}
