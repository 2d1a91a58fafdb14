import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PerformerStatus } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { performerEvents } from '../../../src/hourglass/events.js';

function status(
  phase: PerformerStatus['phase'],
  available: 'True' | 'False',
  reason: string,
  degraded: { status: 'True' | 'False'; reason: string } = {
    status: available === 'False' && reason !== 'PodPending' ? 'True' : 'False',
    reason: available === 'False' && reason !== 'PodPending' ? reason : 'AsExpected',
  },
): PerformerStatus {
  return {
    phase,
    ready: available === 'True',
    podName: 'performer-web',
    conditions: [
      { type: 'Available', status: available, reason, message: `m ${reason}`, lastTransitionTime: '' },
      { type: 'Degraded', ...degraded, message: `m ${degraded.reason}`, lastTransitionTime: '' },
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

test('an upgrade names the new Pod, and a problem with it is warned of while the old Pod serves', () => {
  const running = status('Running', 'True', 'PodReady');
  // As the operator writes it: podName is the Pod still serving, Progressing names the new one.
  const upgrading: PerformerStatus = {
    ...status('Upgrading', 'True', 'PodReady'),
    podName: 'performer-web-cb862b7d2f',
  };
  upgrading.conditions!.push({
    type: 'Progressing',
    status: 'True',
    reason: 'Upgrading',
    message: 'Pod performer-web-0a1b2c3d4e replaces Pod performer-web-cb862b7d2f once Ready',
    lastTransitionTime: '',
  });
  const started = performerEvents(running, upgrading);
  assert.deepEqual(
    started.map((e) => [e.type, e.reason]),
    [['Normal', 'Upgrading']],
  );
  assert.match(started[0]!.note, /^Pod performer-web-0a1b2c3d4e replaces/);

  // The new Pod cannot pull its image: Available stays True, Degraded turns True.
  const pullFailing = status('Upgrading', 'True', 'PodReady', { status: 'True', reason: 'ImagePullFailed' });
  assert.deepEqual(performerEvents(upgrading, pullFailing), [
    { type: 'Warning', reason: 'ImagePullFailed', action: 'Reconcile', note: 'm ImagePullFailed' },
  ]);
  assert.deepEqual(performerEvents(pullFailing, pullFailing), []);
  // A new reason is a new Warning; the same reason again is not.
  const invalid = status('Failed', 'False', 'InvalidSpec');
  assert.deepEqual(
    performerEvents(pullFailing, invalid).map((e) => [e.type, e.reason]),
    [['Warning', 'InvalidSpec']],
  );
  assert.deepEqual(
    performerEvents(undefined, invalid).map((e) => e.reason),
    ['InvalidSpec'],
  );
});
