import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type FileRecord, STATE_FILE, StateStore } from '../../../src/conductor/state.js';

async function handoff(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const processed = (sha256: string, cr: string): FileRecord => ({
  sha256,
  size: 10,
  processed_at: new Date().toISOString(),
  status: 'processed',
  cr_name: `default/${cr}`,
});

async function onDisk(dir: string) {
  return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as {
    version: number;
    revision: string;
    files: Record<string, FileRecord>;
  };
}

test('replicas writing in turn keep every record, and each write is a whole JSON document', async (t) => {
  const dir = await handoff(t);
  const a = new StateStore(dir);
  const b = new StateStore(dir);
  await a.load();
  await b.load();

  await a.recordAll([
    ['intent-1.json', processed('aa', 'one')],
    ['intent-2.json', processed('bb', 'two')],
  ]);
  b.refresh();
  assert.ok(b.finished('intent-1.json', 'aa'), "b sees a's record after a refresh");
  await b.record('intent-3.json', processed('cc', 'three'));
  // a's last write is no longer the file: appending to it would drop b's record.
  await a.record('intent-4.json', processed('dd', 'four'));
  assert.deepEqual(Object.keys((await onDisk(dir)).files), [
    'intent-1.json',
    'intent-2.json',
    'intent-3.json',
    'intent-4.json',
  ]);
  await a.record('intent-5.json', processed('ee', 'five'));
  // A changed file replaces its record rather than adding a second one.
  await a.record('intent-1.json', processed('a2', 'one-v2'));

  const doc = await onDisk(dir);
  assert.equal(doc.version, 1);
  assert.match(doc.revision, /^[0-9a-f]{16}$/);
  assert.deepEqual(Object.keys(doc.files).sort(), [
    'intent-1.json',
    'intent-2.json',
    'intent-3.json',
    'intent-4.json',
    'intent-5.json',
  ]);
  assert.equal(doc.files['intent-1.json']?.sha256, 'a2');

  const fresh = new StateStore(dir);
  await fresh.load();
  assert.ok(fresh.finished('intent-3.json', 'cc'));
  assert.equal(fresh.finished('intent-1.json', 'aa'), undefined, 'the old version is not finished');

  // Removing the state starts afresh: the next write holds only what it records.
  await rm(join(dir, STATE_FILE));
  await a.record('intent-6.json', processed('ff', 'six'));
  assert.deepEqual(Object.keys((await onDisk(dir)).files), ['intent-6.json']);
});

test('a state file without a revision (written by hand) is read, and rewritten with one', async (t) => {
  const dir = await handoff(t);
  await writeFile(
    join(dir, STATE_FILE),
    JSON.stringify({ version: 1, files: { 'intent-1.json': processed('aa', 'one') } }),
  );
  const store = new StateStore(dir);
  await store.load();
  assert.ok(store.finished('intent-1.json', 'aa'));
  await writeFile(
    join(dir, STATE_FILE),
    JSON.stringify({ version: 1, files: { 'intent-1.json': processed('a2', 'one') } }),
  );
  store.refresh();
  assert.ok(store.finished('intent-1.json', 'a2'), 'a hand edit is seen on the next refresh');
  await store.record('intent-2.json', processed('bb', 'two'));
  const doc = await onDisk(dir);
  assert.deepEqual(Object.keys(doc.files), ['intent-1.json', 'intent-2.json']);
  assert.match(doc.revision, /^[0-9a-f]{16}$/);
});

test('a corrupt state file is an error that says how to recover', async (t) => {
  const dir = await handoff(t);
  await writeFile(join(dir, STATE_FILE), '{"version": 1, "files": {');
  await assert.rejects(new StateStore(dir).load(), /is not valid JSON .*move it aside/);
});

test('a store recording many batches in turn writes one whole document holding every record', async (t) => {
  const dir = await handoff(t);
  const store = new StateStore(dir);
  await store.load();
  const names = Array.from({ length: 60 }, (_, i) => `intent-${i}.json`);
  // Batches of growing size, each appended to the last write's chunks.
  for (let i = 0, size = 1; i < names.length; i += size, size++)
    await store.recordAll(names.slice(i, i + size).map((n) => [n, processed(n, n)]));
  const doc = await onDisk(dir);
  assert.deepEqual(Object.keys(doc.files), names);
  assert.equal(doc.files['intent-59.json']?.cr_name, 'default/intent-59.json');
});

test('a write that fails keeps its records for the next write, which lands them all', async (t) => {
  const dir = await handoff(t);
  const store = new StateStore(dir);
  await store.load();
  await store.record('intent-1.json', processed('aa', 'one'));
  // A non-empty directory in the state file's place makes the rename fail.
  await rm(join(dir, STATE_FILE));
  await mkdir(join(dir, STATE_FILE));
  await writeFile(join(dir, STATE_FILE, 'x'), '');
  await assert.rejects(store.record('intent-2.json', processed('bb', 'two')));
  await rm(join(dir, STATE_FILE), { recursive: true });
  await store.record('intent-3.json', processed('cc', 'three'));
  assert.deepEqual(Object.keys((await onDisk(dir)).files), ['intent-2.json', 'intent-3.json']);
  const fresh = new StateStore(dir);
  await fresh.load();
  assert.ok(fresh.finished('intent-2.json', 'bb'), 'the failed write’s record landed with the next');
});

test('the records of removed files are forgotten, unless the file is back by the write', async (t) => {
  const dir = await handoff(t);
  const a = new StateStore(dir);
  const b = new StateStore(dir);
  await a.load();
  await b.load();
  const names = ['intent-1.json', 'intent-2.json', 'intent-3.json', 'intent-4.json'];
  for (const n of names) await writeFile(join(dir, n), '{}');
  await a.recordAll(names.map((n) => [n, processed(n, n)]));
  const revision = (await onDisk(dir)).revision;

  // Asked to forget three, the store looks again: intent-1 is gone, intent-2 and 3 are there
  // (as a file put back after the directory was listed would be) and keep their records.
  await rm(join(dir, 'intent-1.json'));
  await a.forget(['intent-1.json', 'intent-2.json', 'intent-3.json']);
  assert.deepEqual(Object.keys((await onDisk(dir)).files), names.slice(1));
  assert.deepEqual(a.recorded(), names.slice(1));
  assert.equal(a.finished('intent-1.json', 'intent-1.json'), undefined, 'a file dropped again is new');

  // A replica holding the older revision does not bring the forgotten record back,
  // and forgetting what is already gone writes nothing.
  await rm(join(dir, 'intent-4.json'));
  await b.record('intent-5.json', processed('ee', 'five'));
  const afterB = await onDisk(dir);
  assert.notEqual(afterB.revision, revision);
  assert.deepEqual(Object.keys(afterB.files), [...names.slice(1), 'intent-5.json']);
  await b.forget(['intent-1.json', 'intent-4.json']);
  await a.forget(['intent-4.json']);
  const last = await onDisk(dir);
  assert.deepEqual(Object.keys(last.files), ['intent-2.json', 'intent-3.json', 'intent-5.json']);
  await a.forget(['intent-1.json', 'intent-4.json']);
  assert.equal((await onDisk(dir)).revision, last.revision, 'nothing left to forget: no write');
});

test('an entry removed by hand is read as removed, and the next write does not put it back', async (t) => {
  const dir = await handoff(t);
  const store = new StateStore(dir);
  await store.load();
  await store.recordAll([
    ['intent-1.json', processed('aa', 'one')],
    ['intent-2.json', processed('bb', 'two')],
  ]);
  // As an operator edits the file: the revision line stays, one entry goes.
  const doc = await onDisk(dir);
  delete doc.files['intent-1.json'];
  await writeFile(join(dir, STATE_FILE), JSON.stringify(doc, null, 1));

  store.refresh();
  assert.equal(store.finished('intent-1.json', 'aa'), undefined, 'the removed entry is gone');
  assert.ok(store.finished('intent-2.json', 'bb'));
  await store.record('intent-3.json', processed('cc', 'three'));
  assert.deepEqual(Object.keys((await onDisk(dir)).files), ['intent-2.json', 'intent-3.json']);
});
