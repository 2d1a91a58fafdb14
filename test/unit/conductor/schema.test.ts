import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseIntentJson } from '../../../src/conductor/intake.js';
import { dns1123, networkIntentName, toNetworkIntent } from '../../../src/conductor/intent.js';
import { IntentValidator } from '../../../src/conductor/schema.js';

const validator = IntentValidator.load();

test('a Kubernetes-shaped document names every missing and every extra property (seed test 1)', () => {
  const result = validator.validate({
    apiVersion: 'intent.nephoran.com/v1alpha1',
    kind: 'NetworkIntent',
    metadata: { name: 'x' },
    spec: { replicas: 3 },
  });
  assert.equal(result.ok, false);
  assert.deepEqual(!result.ok && result.errors, [
    "at '': missing properties 'intent_type', 'target', 'namespace', 'replicas'",
    "at '': additional properties 'apiVersion', 'kind', 'metadata', 'spec' not allowed",
  ]);
});

test('a source outside the enum gets the seed message (seed test 2)', () => {
  const result = validator.validate({
    source: 'test-user',
    intent_type: 'scaling',
    target: 'web-app',
    namespace: 'default',
    replicas: 5,
  });
  assert.deepEqual(!result.ok && result.errors, [
    "at '/source': value must be one of 'user', 'planner', 'test', ''",
  ]);
});

test('every violation is reported, each at its location', () => {
  const result = validator.validate({
    intent_type: 'resize',
    target: '',
    namespace: 'default',
    replicas: 101,
    priority: 11,
    created_at: 'yesterday',
    reason: 'x'.repeat(513),
  });
  assert.equal(result.ok, false);
  const errors = !result.ok ? result.errors : [];
  assert.deepEqual(errors, [
    'at \'/created_at\': "yesterday" is not valid date-time',
    "at '/intent_type': value must be one of 'scaling', 'deployment', 'configuration'",
    "at '/priority': must be <= 10 but found 11",
    "at '/reason': length must be <= 512, but got 513",
    "at '/replicas': must be <= 100 but found 101",
    "at '/target': length must be >= 1, but got 0",
  ]);
});

test('a valid intent passes as written', () => {
  const result = validator.validate({ intent_type: 'scaling', target: 'web', namespace: 'ns', replicas: 2 });
  assert.ok(result.ok);
  assert.equal(result.ok && result.intent.priority, undefined);
});

test('--schema loads another contract, and a broken one fails naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'schema-'));
  const loose = join(dir, 'loose.json');
  await writeFile(loose, JSON.stringify({ type: 'object', required: ['target'] }));
  assert.ok(IntentValidator.load(loose).validate({ target: 'x', extra: 1 }).ok);
  const broken = join(dir, 'broken.json');
  await writeFile(broken, '{ nope');
  assert.throws(() => IntentValidator.load(broken), /--schema: .*broken\.json is not JSON/);
  assert.throws(
    () => IntentValidator.load(join(dir, 'missing.json')),
    /--schema: cannot read .*missing\.json/,
  );
  await writeFile(broken, JSON.stringify({ type: 'nonsense' }));
  assert.throws(() => IntentValidator.load(broken), /does not compile/);
});

test('CR names: dns1123 target cut to 40, 8 hex of the content hash, stable across key order', () => {
  const a = { intent_type: 'scaling' as const, target: 'API_Server', namespace: 'default', replicas: 3 };
  const b = { replicas: 3, namespace: 'default', target: 'API_Server', intent_type: 'scaling' as const };
  assert.match(networkIntentName(a), /^intent-api-server-[0-9a-f]{8}$/);
  assert.equal(networkIntentName(a), networkIntentName(b));
  assert.notEqual(networkIntentName(a), networkIntentName({ ...a, replicas: 4 }));
  const long = networkIntentName({ ...a, target: 'x'.repeat(80) });
  assert.equal(long, `intent-${'x'.repeat(40)}-${long.slice(-8)}`);
  assert.ok(long.length <= 63);
  assert.equal(dns1123('--Web..App--'), 'web-app');
});

test('the NetworkIntent carries exactly the seed spec, labels and annotations', () => {
  const ni = toNetworkIntent({
    source: 'test',
    intent_type: 'scaling',
    target: 'api-server',
    namespace: 'default',
    replicas: 3,
    reason: 'Testing K8sSubmitFunc with RBAC',
    correlation_id: 'test-final-123',
    created_at: '2026-02-23T17:25:00Z',
  });
  assert.deepEqual(ni.spec, {
    intentType: 'scaling',
    target: 'api-server',
    namespace: 'default',
    replicas: 3,
    source: 'test',
  });
  assert.deepEqual(ni.metadata?.labels, {
    'app.kubernetes.io/managed-by': 'nephoran-conductor',
    'nephoran.com/intent-type': 'scaling',
    'nephoran.com/target': 'api-server',
  });
  assert.deepEqual(ni.metadata?.annotations, {
    'nephoran.com/reason': 'Testing K8sSubmitFunc with RBAC',
    'nephoran.com/correlation-id': 'test-final-123',
  });
});

test('binary content and bad JSON are named as such', () => {
  const bin = parseIntentJson(Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]));
  assert.deepEqual(bin, { ok: false, message: 'the file is not UTF-8 text (binary content)' });
  const bad = parseIntentJson(Buffer.from('{"intent_type": '));
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.message : '', /^invalid JSON: /);
});

test('valid UTF-8 holding U+FFFD is read; an invalid byte sequence is refused as binary', () => {
  const text = parseIntentJson(Buffer.from('{"reason": "replacement \uFFFD character"}', 'utf8'));
  assert.deepEqual(text, { ok: true, doc: { reason: 'replacement \uFFFD character' } });
  // A lone continuation byte inside otherwise valid JSON.
  const invalid = Buffer.concat([Buffer.from('{"reason": "'), Buffer.from([0x80]), Buffer.from('"}')]);
  assert.deepEqual(parseIntentJson(invalid), {
    ok: false,
    message: 'the file is not UTF-8 text (binary content)',
  });
});

test('a key given twice in one object is refused, naming the key and where, not read last-wins', () => {
  assert.deepEqual(parseIntentJson(Buffer.from('{"replicas": 1, "replicas": 5}')), {
    ok: false,
    message: 'invalid JSON: duplicate key "replicas" at /replicas (line 1, column 17)',
  });
  // Nested, in a list, spelled with an escape, and on a later line.
  const nested =
    '{\n  "constraints": {"allowed_namespaces": ["a"],\n    "max_replicas": 3, "max_\\u0072eplicas": 9}\n}';
  assert.deepEqual(parseIntentJson(Buffer.from(nested)), {
    ok: false,
    message: 'invalid JSON: duplicate key "max_replicas" at /constraints/max_replicas (line 3, column 24)',
  });
  const inList = '{"target_resources": [{"k": "a,\\"{"}, {"k": 1, "k": 2}]}';
  assert.match(
    (parseIntentJson(Buffer.from(inList)) as { message: string }).message,
    /duplicate key "k" at \/target_resources\/1\/k /,
  );
  // The same key in sibling objects, and a key equal to a string value, are no duplicates.
  assert.equal(parseIntentJson(Buffer.from('{"a": {"k": 1}, "b": {"k": 1}, "c": "a", "d": ["a"]}')).ok, true);
});
