import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PerformerStatus } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { performerEvents } from '../../../src/hourglass/events.js';

function status(
  phase: PerformerStatus['phase'],
  available: 'True' | 'False',
  reason: string,
): PerformerStatus {
  return {
    phase,
    ready: available === 'True',
    podName: 'performer-web',
    conditions: [
      { type: 'Available', status: available, reason, message: `m ${reason}`, lastTransitionTime: '' },
    ],
  };
}

test('events only on transitions', () => {
  const pending = status('Pending', 'False', 'PodPending');
  const running = status('Running', 'True', 'PodReady');
  assert.deepEqual(performerEvents(undefined, pending), []);
  assert.deepEqual(
    performerEvents(pending, running).map((e) => [e.type, e.reason]),
    [['Normal', 'Ready']],
  );
  assert.deepEqual(performerEvents(running, running), []);
  assert.deepEqual(
    performerEvents(running, status('Upgrading', 'True', 'PodReady')).map((e) => e.reason),
    ['Upgrading'],
  );
  const noHost = status('Pending', 'False', 'HardwareUnavailable');
  assert.deepEqual(performerEvents(pending, noHost), [
    { type: 'Warning', reason: 'HardwareUnavailable', action: 'Reconcile', note: 'm HardwareUnavailable' },
  ]);
  assert.deepEqual(performerEvents(noHost, noHost), []);
  assert.deepEqual(performerEvents(running, undefined), []);
});
