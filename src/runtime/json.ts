/**
 * JSON.parse keeps a repeated key's last value, so `{"replicas": 1, "replicas": 5}` would read as 5
 * without a word; which one was meant cannot be known. Input that people write is read with
 * `parseJsonStrict`, which refuses it, as the YAML parser does.
 */

export interface DuplicateKey {
  key: string;
  /** Where the key is repeated, as a JSON pointer (RFC 6901). */
  pointer: string;
  /** Line and column (1-based) of its second occurrence. */
  line: number;
  column: number;
}

/** JSON.parse, refusing a key given twice in one object with a SyntaxError naming it and where. */
export function parseJsonStrict(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const dup = duplicateKey(text);
  if (dup)
    throw new SyntaxError(
      `duplicate key ${JSON.stringify(dup.key)} at ${dup.pointer} (line ${dup.line}, column ${dup.column})`,
    );
  return value;
}

function pointerSegment(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The first key repeated within one object of `text`, which must be valid JSON. */
export function duplicateKey(text: string): DuplicateKey | undefined {
  // One frame per open object (its keys so far, the current one, whether a key comes next) or
  // array (the current index).
  type Frame = { keys: Set<string>; key: string; expectKey: boolean } | { index: number };
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (top && 'keys' in top && top.expectKey) {
        const raw = text.slice(i, end + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) {
          const path = stack
            .slice(0, -1)
            .map((f) => ('keys' in f ? pointerSegment(f.key) : String(f.index)))
            .concat(pointerSegment(key));
          const before = text.slice(0, i);
          const line = before.split('\n').length;
          return { key, pointer: `/${path.join('/')}`, line, column: i - before.lastIndexOf('\n') };
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === '{') stack.push({ keys: new Set(), key: '', expectKey: true });
    else if (c === '[') stack.push({ index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && top) {
      if ('keys' in top) top.expectKey = true;
      else top.index++;
    }
  }
  return undefined;
}
