import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JsonLinesTraceStore } from '../../../src/planner/trace/jsonl-store.js';
import { linearHistory } from './support.js';

test('the embedded trace store keeps events and models across reopening, newest first', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await JsonLinesTraceStore.open(dir);
  for (const e of linearHistory('shop/web')) await store.recordEvent(e);
  await store.recordEvent({ ...linearHistory('shop/other')[0]!, replicas: 7 });
  const fit = { intercept: 2, slope: 0.1, r2: 1, samples: 6 };
  await store.recordModel({ intent: 'shop/web', actuator: 'scaling', objective: 'p95', time: 'a', fit });
  await store.recordModel({
    intent: 'shop/web',
    actuator: 'scaling',
    objective: 'p95',
    time: 'b',
    fit: { ...fit, slope: 0.2 },
  });
  await store.close();
  // A crash mid-write leaves a partial last line; it is skipped, not fatal.
  await appendFile(join(dir, 'events.jsonl'), '{"intent":"shop/web","ti');

  const reopened = await JsonLinesTraceStore.open(dir);
  const recent = await reopened.recentEvents('shop/web', 2);
  assert.deepEqual(
    recent.map((e) => e.replicas),
    [3, 4],
  );
  assert.equal((await reopened.recentEvents('shop/other', 10))[0]!.replicas, 7);
  assert.equal((await reopened.latestModel('shop/web', 'scaling', 'p95'))?.fit.slope, 0.2);
  assert.equal(await reopened.latestModel('shop/web', 'cpu_scale', 'p95'), undefined);
});

test('a corrupt record in the middle is reported with its line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await appendFile(join(dir, 'events.jsonl'), '{"intent":"a"}\nnot json\n{"intent":"b"}\n');
  await assert.rejects(JsonLinesTraceStore.open(dir), /events.jsonl:2: not a JSON record/);
});
