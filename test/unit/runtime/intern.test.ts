import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intern, internStrings } from '../../../src/runtime/intern.js';

test('interning leaves every value of a cached object as it was', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'performer-p-1',
      uid: '3f1e9a4c-1111-2222-3333-444455556666',
      creationTimestamp: '2026-11-24T03:34:19Z',
      labels: { app: 'hourglass-performer', 'hourglass.eigenlayer.io/performer': 'p-1' },
      finalizers: ['hourglass.eigenlayer.io/finalizer'],
      annotations: { note: 'x'.repeat(300) },
      ownerReferences: [{ apiVersion: 'hourglass.eigenlayer.io/v1alpha1', kind: 'Performer', uid: 'u' }],
    },
    spec: { selector: { matchLabels: { app: 'hourglass-performer' } }, ports: [9090], empty: null },
    status: {
      phase: 'Running',
      conditions: [{ type: 'ContainersReady', status: 'True', lastTransitionTime: '2026-11-24T03:34:19Z' }],
      containerStatuses: [{ image: 'ghcr.io/acme/perf:v1', state: { running: { startedAt: 'now' } } }],
    },
  };
  const before = structuredClone(pod);
  assert.equal(internStrings(pod), pod);
  assert.deepEqual(pod, before);
});

test('the pool answers with an equal string before, across and after a restart at its limit', () => {
  const values = Array.from({ length: 40_000 }, (_, i) => `2026-11-24T03:34:${String(i).padStart(6, '0')}Z`);
  for (const v of values) assert.equal(intern(v), v);
  for (const v of values.slice(0, 100)) assert.equal(intern(`${v}`), v);
});
