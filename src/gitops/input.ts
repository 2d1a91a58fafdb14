import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { IntentExpectation } from './expectation.js';
import { expectationProblems } from './expectation-schema.js';
import { type Problem, TranslateError, translateIntent } from './translate.js';

/**
 * Expectations from one input document: an intent (TMF921 or the short form), a list of intents,
 * 28.312 expectations (a list, or `{"expectations": [...]}`), or a mix in a list.
 */
export function expectationsFrom(value: unknown): IntentExpectation[] {
  const items = Array.isArray(value)
    ? value
    : isRecord(value) && Array.isArray(value['expectations'])
      ? value['expectations']
      : [value];
  const base = Array.isArray(value) ? '' : isRecord(value) && 'expectations' in value ? 'expectations' : '';
  const out: IntentExpectation[] = [];
  const problems: Problem[] = [];
  // Which item made each expectation id: two expectations under one id would overwrite each other.
  const madeBy = new Map<string, string>();
  const add = (expectations: IntentExpectation[], at: string, idField: string) => {
    const taken = expectations.filter((e) => madeBy.has(e.intentExpectationId));
    if (taken.length) {
      const ids = taken.map((e) => e.intentExpectationId);
      problems.push({
        field: `${at}.${idField}`,
        message: `makes ${ids.join(', ')}, as ${madeBy.get(ids[0]!)} does; give each intent its own id`,
      });
    }
    for (const e of expectations) madeBy.set(e.intentExpectationId, at);
    out.push(...expectations);
  };
  items.forEach((item, i) => {
    const at = items.length > 1 || base ? `${base}[${i}]` : '';
    if (isRecord(item) && 'intentExpectationId' in item) {
      const p = expectationProblems(item, at);
      if (p.length) problems.push(...p);
      else add([item as unknown as IntentExpectation], at, 'intentExpectationId');
      return;
    }
    try {
      add(translateIntent(item), at, 'id');
    } catch (err) {
      if (!(err instanceof TranslateError)) throw err;
      problems.push(
        ...err.problems.map((p) => ({ field: at ? `${at}.${p.field}` : p.field, message: p.message })),
      );
    }
  });
  if (problems.length) throw new TranslateError(problems);
  return out;
}

/** Reads a JSON or YAML file of intents or expectations; errors name the file. */
export async function readExpectations(file: string): Promise<IntentExpectation[]> {
  let value: unknown;
  try {
    value = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  try {
    const expectations = expectationsFrom(value);
    // Published, an empty tree would withdraw every intent from the edge: never from a slip.
    if (expectations.length === 0) throw new Error(`${file}: holds no intent or expectation`);
    return expectations;
  } catch (err) {
    if (err instanceof TranslateError) throw new Error(`${file}: ${err.message}`);
    throw err;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
