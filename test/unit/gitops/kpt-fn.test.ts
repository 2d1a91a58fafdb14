import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { runFunctionProcess } from '../../../src/gitops/kpt-fn.js';

// The real kpt binary runs the real command, as a user's pipeline would.
const run = promisify(execFile);
const tutti = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
const fn = `node ${tutti} gitops fn`;

function intentConfigMap(name: string, intent: unknown): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  intent.json: '${JSON.stringify(intent)}'\n`;
}

async function kpt(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('kpt', args, { cwd });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

async function objectsIn(
  file: string,
): Promise<{ kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: unknown }[]> {
  return parseAllDocuments(await readFile(file, 'utf8')).map((d) => d.toJS());
}

async function packageDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-kpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('kpt fn eval --exec renders intents into the seed files, idempotently, and prunes removed intents', async (t) => {
  const dir = await packageDir(t);
  await writeFile(
    join(dir, 'intent.yaml'),
    intentConfigMap('stadium', {
      intent: '5G network',
      requirements: { latency: '<1ms', availability: '>=99.9%' },
    }),
  );
  const first = await kpt(['fn', 'eval', '.', '--exec', fn], dir);
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /rendered 2 expectations into 4 objects/);
  const cn = await objectsIn(join(dir, 'apps/intent/cn_capacity.yaml'));
  assert.deepEqual(
    cn.map((o) => `${o.kind}/${o.metadata.name}`),
    ['ConfigMap/expectation-cn-cap-001', 'CNBundle/cn-bundle-cn-cap-001'],
  );
  assert.deepEqual((cn[1]!.spec as { capacity: unknown }).capacity, {
    latency: { condition: 'LESS_THAN', value: '1ms' },
  });
  const tn = await objectsIn(join(dir, 'apps/intent/tn_coverage.yaml'));
  assert.deepEqual(
    tn.map((o) => `${o.kind}/${o.metadata.name}`),
    ['ConfigMap/expectation-tn-cov-001', 'TNBundle/tn-bundle-tn-cov-001'],
  );

  const before = await readFile(join(dir, 'apps/intent/cn_capacity.yaml'), 'utf8');
  assert.equal((await kpt(['fn', 'eval', '.', '--exec', fn], dir)).code, 0);
  assert.equal(await readFile(join(dir, 'apps/intent/cn_capacity.yaml'), 'utf8'), before);

  // The intent now asks for latency only: its TN expectation leaves the package.
  await writeFile(
    join(dir, 'intent.yaml'),
    intentConfigMap('stadium', { intent: '5G network', requirements: { latency: '<1ms' } }),
  );
  assert.equal((await kpt(['fn', 'eval', '.', '--exec', fn], dir)).code, 0);
  await assert.rejects(readFile(join(dir, 'apps/intent/tn_coverage.yaml')), { code: 'ENOENT' });
});

test('a Kptfile pipeline (kpt fn render) reports a bad intent with severity, message and field', async (t) => {
  const dir = await packageDir(t);
  await writeFile(
    join(dir, 'Kptfile'),
    `apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: intent-to-krm\npipeline:\n  mutators:\n    - exec: "${fn}"\n`,
  );
  await writeFile(
    join(dir, 'intent.yaml'),
    intentConfigMap('bad', { intent: 'x', requirements: { latency: '>1Gbps', colour: 'red' } }),
  );
  const results = join(dir, '.results');
  const bad = await kpt(['fn', 'render', '.', '--allow-exec', '--results-dir', results], dir);
  assert.notEqual(bad.code, 0, bad.out);
  const list = parse(await readFile(join(results, 'results.yaml'), 'utf8'));
  assert.deepEqual(
    list.items[0].results.map((r: { severity: string; field: { path: string }; message: string }) => [
      r.severity,
      r.field.path,
      r.message,
    ]),
    [
      [
        'error',
        'data.intent.json.requirements.latency',
        '"Gbps" is not a unit of time; use one of ns, us, µs, ms, s, sec, min',
      ],
      ['error', 'data.intent.json.requirements.colour', list.items[0].results[1].message],
    ],
  );
  assert.match(list.items[0].results[1].message, /^unknown requirement; known: latency/);
  await assert.rejects(readFile(join(dir, 'apps/intent/cn_capacity.yaml')), { code: 'ENOENT' });

  await writeFile(
    join(dir, 'intent.yaml'),
    intentConfigMap('good', { intent: 'x', requirements: { jitter: '<2ms' } }),
  );
  const good = await kpt(['fn', 'render', '.', '--allow-exec'], dir);
  assert.equal(good.code, 0, good.out);
  const tn = await objectsIn(join(dir, 'apps/intent/tn_coverage.yaml'));
  assert.deepEqual((tn[1]!.spec as { coverage: unknown }).coverage, {
    jitter: { condition: 'LESS_THAN', value: '2ms' },
  });
});

test('an expectation whose intentId is no label value is refused, naming the field, not rendered into a label', async (t) => {
  const dir = await packageDir(t);
  const expectation = {
    intentExpectationId: 'cn-cap-001',
    intentExpectationType: 'ServiceCapacity',
    intentExpectationTarget: { targetAttribute: 'latency', targetCondition: 'LESS_THAN', targetValue: '1ms' },
    intentExpectationObject: { objectType: 'CoreNetwork', objectInstance: 'edge1-core' },
    intentId: 'Edge Slice #1',
    members: ['stadium'],
  };
  await writeFile(
    join(dir, 'expectation.yaml'),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hand-written\ndata:\n  expectation.json: '${JSON.stringify(expectation)}'\n`,
  );
  const results = join(dir, '.results');
  const bad = await kpt(['fn', 'eval', '.', '--exec', fn, '--results-dir', results], dir);
  assert.notEqual(bad.code, 0, bad.out);
  const list = parse(await readFile(join(results, 'results.yaml'), 'utf8'));
  const found = list.items[0].results.map((r: { severity: string; field: { path: string } }) => [
    r.severity,
    r.field.path,
  ]);
  assert.deepEqual(found, [['error', 'data.expectation.json.intentId']]);
  await assert.rejects(readFile(join(dir, 'apps/intent/cn_capacity.yaml')), { code: 'ENOENT' });

  // A valid label value, upper case included, renders as before.
  expectation.intentId = 'Edge-Slice_1';
  await writeFile(
    join(dir, 'expectation.yaml'),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hand-written\ndata:\n  expectation.json: '${JSON.stringify(expectation)}'\n`,
  );
  const good = await kpt(['fn', 'eval', '.', '--exec', fn], dir);
  assert.equal(good.code, 0, good.out);
  const cn = await objectsIn(join(dir, 'apps/intent/cn_capacity.yaml'));
  assert.equal(cn[0]!.metadata.labels?.['intent.tutti.dev/id'], 'Edge-Slice_1');
});

/** The command with a ResourceList on stdin, as kpt or any other orchestrator runs it. */
async function fnWith(stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [tutti, 'gitops', 'fn'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

interface Result {
  severity: string;
  message: string;
  field?: { path: string };
  resourceRef?: { name: string };
  file?: { path: string };
}

test('a malformed ResourceList is reported item by item in results, exit 1, every item kept', async () => {
  const good = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'stadium' },
    data: { 'intent.json': JSON.stringify({ intent: 'x', requirements: { latency: '<1ms' } }) },
  };
  const items = [
    'hello',
    null,
    5,
    { data: { a: 'b' } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'numeric', annotations: { 'internal.config.kubernetes.io/path': 'numeric.yaml' } },
      data: { 'intent.json': 5 },
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: 'hello' },
    good,
  ];
  const run = await fnWith(stringify({ apiVersion: 'config.kubernetes.io/v1', kind: 'ResourceList', items }));
  assert.equal(run.code, 1, run.stderr);
  const out = parse(run.stdout);
  assert.equal(out.kind, 'ResourceList');
  assert.deepEqual(out.items, items, 'no item is lost or rewritten');
  assert.deepEqual(
    out.results.map((r: Result) => [r.severity, r.message, r.field?.path, r.resourceRef?.name, r.file?.path]),
    [
      ['error', 'items[0]: expected a KRM object, got a string', undefined, undefined, undefined],
      ['error', 'items[1]: expected a KRM object, got null', undefined, undefined, undefined],
      ['error', 'items[2]: expected a KRM object, got a number', undefined, undefined, undefined],
      ['error', 'items[3].apiVersion: required', 'apiVersion', undefined, undefined],
      ['error', 'items[3].kind: required', 'kind', undefined, undefined],
      ['error', 'items[3].metadata: required (with name)', 'metadata', undefined, undefined],
      [
        'error',
        'items[4].data.intent.json: expected a string, got a number',
        'data.intent.json',
        'numeric',
        'numeric.yaml',
      ],
      ['error', 'items[5].metadata: expected a map, got a string', 'metadata', undefined, undefined],
    ],
  );
});

test('items that are no list and a functionConfig that is no object are results, not a crash', async () => {
  for (const [body, message] of [
    ['items: {a: 1}', 'items: expected a list of KRM objects, got a map'],
    ['items: abc', 'items: expected a list of KRM objects, got a string'],
    [
      'items: []\nfunctionConfig: [1, 2]',
      'functionConfig: expected a KRM object or none (this function takes no configuration), got a list',
    ],
  ] as const) {
    const run = await fnWith(`apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n${body}\n`);
    assert.equal(run.code, 1, `${body}: ${run.stderr}`);
    const out = parse(run.stdout);
    assert.deepEqual(out.items, [], body);
    assert.deepEqual(
      out.results.map((r: Result) => [r.severity, r.message]),
      [['error', message]],
      body,
    );
  }
  // No items at all is an empty package, not an error.
  const empty = await fnWith('apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n');
  assert.equal(empty.code, 0, empty.stderr);
});

test('an intent.json with a key given twice is an error naming the key, not read last-wins', async (t) => {
  const dir = await packageDir(t);
  await writeFile(
    join(dir, 'intent.yaml'),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  intent.json: '{"intent": "x", "requirements": {"latency": "<1ms", "latency": "<50ms"}}'\n`,
  );
  const results = join(dir, '.results');
  const bad = await kpt(['fn', 'eval', '.', '--exec', fn, '--results-dir', results], dir);
  assert.notEqual(bad.code, 0, bad.out);
  const list = parse(await readFile(join(results, 'results.yaml'), 'utf8'));
  assert.deepEqual(
    list.items[0].results.map((r: Result) => [r.severity, r.field?.path, r.message]),
    [
      [
        'error',
        'data.intent.json',
        'not JSON: duplicate key "latency" at /requirements/latency (line 1, column 53)',
      ],
    ],
  );
  await assert.rejects(readFile(join(dir, 'apps/intent/cn_capacity.yaml')), { code: 'ENOENT' });
});

test('a ResourceList whose multi-byte characters are split between stdin reads is read intact', async () => {
  const items = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'notes' },
      data: { note: 'Stadion München – Südkurve, 5 €; '.repeat(3000) },
    },
  ];
  const bytes = Buffer.from(
    stringify({ apiVersion: 'config.kubernetes.io/v1', kind: 'ResourceList', items }),
  );
  // A pipe hands over 64 KiB at a time, wherever that falls; here it falls inside the euro sign.
  const cut = bytes.indexOf(Buffer.from('€'), 65_536) + 1;
  const stdin = Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]);
  const out: Buffer[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(Buffer.from(chunk));
      done();
    },
  });
  assert.equal(await runFunctionProcess(stdin, stdout), 0);
  const passedBack = parse(Buffer.concat(out).toString('utf8')).items;
  const broken = passedBack[0].data.note.indexOf('\uFFFD');
  assert.equal(broken, -1, `a character was broken at ${broken} of the note passed back`);
  assert.deepEqual(passedBack, items);
});
