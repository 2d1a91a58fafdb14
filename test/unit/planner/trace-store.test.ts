import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { JsonLinesTraceStore } from '../../../src/planner/trace/jsonl-store.js';
import { MongoTraceStore } from '../../../src/planner/trace/mongo-store.js';
import { openTraceStore } from '../../../src/planner/trace/open.js';
import type { FittedModel, PlanningEvent, TraceStore } from '../../../src/planner/trace/store.js';
import { type RunningFerretDb, startFerretDb } from '../../support/ferretdb.js';
import { linearHistory } from './support.js';

/** A place a store keeps its traces; `open` may be called again to reopen the same traces. */
interface StoreKind {
  name: string;
  fresh(): Promise<{ open(): Promise<TraceStore>; cleanup(): Promise<void> }>;
}

let ferret: RunningFerretDb | undefined;
before(async () => {
  ferret = await startFerretDb();
});
after(() => ferret?.stop());

const KINDS: StoreKind[] = [
  {
    name: 'embedded (JSON lines)',
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'traces-'));
      return {
        open: () => JsonLinesTraceStore.open(dir),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'MongoDB (FerretDB)',
    async fresh() {
      const uri = `${ferret!.uri}traces_${randomBytes(4).toString('hex')}`;
      return {
        open: () => MongoTraceStore.open(uri),
        async cleanup() {
          const client = await MongoClient.connect(uri);
          await client.db().dropDatabase();
          await client.close();
        },
      };
    },
  },
];

const fit = { intercept: 2, slope: 0.1, r2: 1, samples: 6 };
const model = (over: Partial<FittedModel>): FittedModel => ({
  intent: 'shop/web',
  actuator: 'scale_out',
  objective: 'p95',
  time: '2026-01-01T00:00:00.000Z',
  fit,
  ...over,
});

for (const kind of KINDS) {
  describe(`trace store: ${kind.name}`, () => {
    async function fresh(t: { after(fn: () => Promise<void>): void }) {
      const place = await kind.fresh();
      t.after(() => place.cleanup());
      return place;
    }

    test('an intent’s recent events come newest first, limited to look_back, other intents apart', async (t) => {
      const place = await fresh(t);
      const store = await place.open();
      t.after(() => store.close());
      for (const e of linearHistory('shop/web')) await store.recordEvent(e);
      await store.recordEvent({ ...linearHistory('shop/other')[0]!, replicas: 7 });

      assert.deepEqual(
        (await store.recentEvents('shop/web', 3)).map((e) => e.replicas),
        [3, 4, 2],
      );
      assert.equal((await store.recentEvents('shop/web', 100)).length, 6);
      assert.deepEqual(
        (await store.recentEvents('shop/other', 20)).map((e) => e.replicas),
        [7],
      );
      assert.deepEqual(await store.recentEvents('shop/none', 20), []);
      assert.deepEqual(await store.recentEvents('shop/web', 0), []);
    });

    test('an event comes back as recorded, plan and resources included, and the caller’s copy is untouched', async (t) => {
      const place = await fresh(t);
      const store = await place.open();
      t.after(() => store.close());
      const event: PlanningEvent = {
        intent: 'shop/web',
        time: '2026-01-01T00:00:01.000Z',
        current: { p95: 12.5, rps: 310 },
        desired: { p95: 10, rps: 0 },
        replicas: 2,
        resources: { app: { request: 500, limit: 1000 }, sidecar: { request: 0, limit: 0 } },
        pods: ['web-a', 'web-b'],
        plan: [
          { name: 'scale_out', properties: { factor: 1, replicas: 3 } },
          { name: 'cpu_scale', properties: { container: 'app', value: 700 } },
        ],
      };
      const before = structuredClone(event);
      await store.recordEvent(event);
      assert.deepEqual(event, before);
      assert.deepEqual(await store.recentEvents('shop/web', 1), [before]);
    });

    test('the latest model per intent, actuator and objective wins; unknown ones are undefined', async (t) => {
      const place = await fresh(t);
      const store = await place.open();
      t.after(() => store.close());
      await store.recordModel(model({ time: 'a' }));
      await store.recordModel(model({ time: 'b', fit: { ...fit, slope: 0.2 } }));
      await store.recordModel(model({ objective: 'p99', fit: { ...fit, slope: 0.9 } }));
      await store.recordModel(model({ actuator: 'cpu_scale', fit: { ...fit, slope: 0.5 } }));

      assert.deepEqual(
        await store.latestModel('shop/web', 'scale_out', 'p95'),
        model({ time: 'b', fit: { ...fit, slope: 0.2 } }),
      );
      assert.equal((await store.latestModel('shop/web', 'scale_out', 'p99'))?.fit.slope, 0.9);
      assert.equal((await store.latestModel('shop/web', 'cpu_scale', 'p95'))?.fit.slope, 0.5);
      assert.equal(await store.latestModel('shop/web', 'rm_pod', 'p95'), undefined);
      assert.equal(await store.latestModel('shop/other', 'scale_out', 'p95'), undefined);
    });

    test('events and models survive closing and reopening', async (t) => {
      const place = await fresh(t);
      const first = await place.open();
      for (const e of linearHistory('shop/web')) await first.recordEvent(e);
      await first.recordModel(model({ fit: { ...fit, slope: 0.3 } }));
      await first.close();

      const reopened = await place.open();
      t.after(() => reopened.close());
      assert.deepEqual(
        (await reopened.recentEvents('shop/web', 2)).map((e) => e.replicas),
        [3, 4],
      );
      assert.equal((await reopened.latestModel('shop/web', 'scale_out', 'p95'))?.fit.slope, 0.3);
      // Recording goes on after the old records, not before them.
      await reopened.recordEvent({ ...linearHistory('shop/web')[0]!, replicas: 9 });
      assert.deepEqual(
        (await reopened.recentEvents('shop/web', 2)).map((e) => e.replicas),
        [9, 3],
      );
    });
  });
}

test('embedded store: a record cut short by a crash is cut off the file, with a warning, and recording goes on after the last whole one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'events.jsonl');
  const store = await JsonLinesTraceStore.open(dir);
  for (const e of linearHistory('shop/web')) await store.recordEvent(e);
  await store.close();
  const whole = await readFile(file);
  const torn = '{"intent":"shop/web","ti';
  await appendFile(file, torn);

  const { log, lines } = capturingLogger();
  const reopened = await JsonLinesTraceStore.open(dir, log);
  assert.equal((await reopened.recentEvents('shop/web', 10)).length, 6);
  // The next record starts a line of its own, and the store opens again with it.
  await reopened.recordEvent({ ...linearHistory('shop/web')[0]!, replicas: 9 });
  await reopened.close();
  const again = await JsonLinesTraceStore.open(dir, log);
  t.after(() => again.close());
  assert.deepEqual(
    (await again.recentEvents('shop/web', 10)).map((e) => e.replicas),
    [9, 3, 4, 2, 2, 1, 1],
  );

  const records = (await readFile(file)).subarray(0, whole.length);
  assert.deepEqual(records, whole, 'the torn record was cut off the file');
  const warnings = lines.filter((l) => l['level'] === 40);
  assert.equal(warnings.length, 1, 'warned once, on the open that cut it');
  assert.equal(warnings[0]!['file'], file);
  assert.equal(warnings[0]!['droppedBytes'], torn.length);
  assert.match(String(warnings[0]!['msg']), /dropped 24 bytes of a record cut short/);
});

test('embedded store: a last record written in full but for its newline is kept, and its line ended', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [first, second] = linearHistory('shop/web');
  await appendFile(join(dir, 'events.jsonl'), `${JSON.stringify(first)}\n${JSON.stringify(second)}`);
  const store = await JsonLinesTraceStore.open(dir, capturingLogger().log);
  await store.recordEvent({ ...first!, replicas: 9 });
  await store.close();
  const reopened = await JsonLinesTraceStore.open(dir);
  t.after(() => reopened.close());
  assert.deepEqual(
    (await reopened.recentEvents('shop/web', 10)).map((e) => e.replicas),
    [9, second!.replicas, first!.replicas],
  );
});

test('embedded store: a corrupt record in the middle of the file is refused, naming the file and line', async (t) => {
  const bad = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(bad, { recursive: true, force: true }));
  await appendFile(join(bad, 'events.jsonl'), '{"intent":"a"}\nnot json\n{"intent":"b"}\n');
  await assert.rejects(
    JsonLinesTraceStore.open(bad),
    new RegExp(`^Error: ${join(bad, 'events.jsonl')}:2: not a JSON record \\(`),
  );
  // A whole last line (newline and all) that does not parse is not a torn append either.
  const last = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(last, { recursive: true, force: true }));
  await appendFile(join(last, 'models.jsonl'), '{"intent":"a"}\n{"intent":\n');
  await assert.rejects(JsonLinesTraceStore.open(last), /models\.jsonl:2: not a JSON record/);
});

/** A logger whose lines are kept, parsed, in `lines`. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { log, lines };
}

test('embedded store: a write that failed does not fail the writes after it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await JsonLinesTraceStore.open(dir);
  const [first, second] = linearHistory('shop/web');
  // The file cannot be appended to for a while (a full disk would say ENOSPC).
  await mkdir(join(dir, 'events.jsonl'));
  await assert.rejects(store.recordEvent(first!), /EISDIR/);
  await rmdir(join(dir, 'events.jsonl'));

  await store.recordEvent(second!);
  await store.close();
  const reopened = await JsonLinesTraceStore.open(dir);
  assert.deepEqual(await reopened.recentEvents('shop/web', 10), [second]);
});

test('MongoDB store: indexes for the actuators’ look-ups are created', async (t) => {
  const uri = `${ferret!.uri}traces_${randomBytes(4).toString('hex')}`;
  const store = await MongoTraceStore.open(uri);
  t.after(() => store.close());
  const client = await MongoClient.connect(uri);
  t.after(async () => {
    await client.db().dropDatabase();
    await client.close();
  });
  const names = async (c: string) =>
    (await client.db().collection(c).listIndexes().toArray()).map((i) => i['name']);
  assert.ok((await names('events')).includes('intent_recent'));
  assert.ok((await names('models')).includes('intent_actuator_objective_latest'));
});

test('MongoDB store: an unreachable server is an error naming the endpoint, without its password', async () => {
  await assert.rejects(
    MongoTraceStore.open('mongodb://planner:s3cret@127.0.0.1:9/', { serverSelectionTimeoutMs: 500 }),
    (err: Error) => {
      assert.match(
        err.message,
        /^MongoDB trace store at mongodb:\/\/planner:\*\*\*@127\.0\.0\.1:9\/: cannot connect: /,
      );
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    },
  );
  await assert.rejects(
    MongoTraceStore.open('postgres://x'),
    /MongoDB trace store at postgres:\/\/x: invalid endpoint/,
  );
});

test('the store is chosen by mongo_endpoint: empty is the embedded store, a URI is MongoDB', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const embedded = await openTraceStore({ mongoEndpoint: '', traceDir: dir });
  t.after(() => embedded.close());
  assert.ok(embedded instanceof JsonLinesTraceStore);
  const mongo = await openTraceStore({ mongoEndpoint: `${ferret!.uri}traces_choice`, traceDir: dir });
  t.after(async () => {
    const client = await MongoClient.connect(`${ferret!.uri}traces_choice`);
    await client.db().dropDatabase();
    await client.close();
    await mongo.close();
  });
  assert.ok(mongo instanceof MongoTraceStore);
});
