import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setCondition } from '../../../src/runtime/conditions.js';
import { watchEvents } from '../../../src/runtime/informer.js';
import { microTime } from '../../../src/runtime/time.js';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

describe('watch stream parsing', () => {
  test('events split across chunks and several per chunk are all read in order', async () => {
    const a = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '1' } } });
    const b = JSON.stringify({
      type: 'MODIFIED',
      object: { metadata: { name: 'ü-b', resourceVersion: '2' } },
    });
    const c = JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } });
    const all = `${a}\n${b}\n${c}\n`;
    const bytes = Buffer.from(all);
    // Cut in the middle of a multi-byte character too.
    const cut1 = all.indexOf('ü') + 1;
    const parts = [
      bytes.subarray(0, 7),
      bytes.subarray(7, Buffer.byteLength(all.slice(0, cut1)) - 1),
      bytes.subarray(Buffer.byteLength(all.slice(0, cut1)) - 1),
    ];
    const events = [];
    for await (const e of watchEvents(
      (async function* () {
        for (const p of parts) yield p;
      })(),
    )) {
      events.push(e);
    }
    assert.deepEqual(
      events.map((e) => [e.type, (e.object as { metadata: { name?: string } }).metadata.name]),
      [
        ['ADDED', 'a'],
        ['MODIFIED', 'ü-b'],
        ['BOOKMARK', undefined],
      ],
    );
  });

  test('a last event without a trailing newline is still read', async () => {
    const events = [];
    for await (const e of watchEvents(chunks('{"type":"DELETED","object":{"metadata":{"name":"x"}}}')))
      events.push(e);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'DELETED');
  });
});

describe('conditions', () => {
  test('lastTransitionTime moves only when the status changes', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T00:05:00Z');
    let c = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'PodPending', message: 'waiting' },
      t1,
    );
    c = setCondition(
      c,
      {
        type: 'Ready',
        status: 'False',
        reason: 'PodPending',
        message: 'still waiting',
        observedGeneration: 2,
      },
      t2,
    );
    assert.equal(c.length, 1);
    assert.equal(c[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(c[0]!.message, 'still waiting');
    assert.equal(c[0]!.observedGeneration, 2);
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'PodReady' }, t2);
    assert.equal(c[0]!.lastTransitionTime, '2026-01-01T00:05:00Z');
  });

  test('MicroTime has six fractional digits', () => {
    assert.equal(microTime(new Date('2026-03-04T05:06:07.089Z')), '2026-03-04T05:06:07.089000Z');
  });
});
