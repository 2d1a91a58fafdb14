import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { EventRecorder } from '../../../src/runtime/events.js';

test('a burst of events is sent a few at a time, and every one is sent', async () => {
  let inFlight = 0;
  let most = 0;
  const sent: string[] = [];
  // Only the create the recorder calls; the API server's side of events is tested on the plane.
  const client = {
    async create(event: KubeObject & { note?: string }) {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      sent.push(event.note!);
      return event;
    },
  } as unknown as KubeClient;
  const recorder = new EventRecorder(client, 'test/controller', 'test-0');
  const regarding = (i: number): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: 'ns', uid: `uid-${i}` },
  });
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      recorder.record(regarding(i), 'Normal', 'Made', 'Create', `made ${i}`),
    ),
  );
  assert.equal(sent.length, 50);
  assert.deepEqual(new Set(sent).size, 50);
  assert.ok(most <= 4, `at most 4 events in flight, saw ${most}`);
  assert.ok(most > 1, 'events are still sent concurrently');
});
