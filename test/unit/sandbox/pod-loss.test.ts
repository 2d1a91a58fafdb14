import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { podLoss } from '../../../src/sandbox/pod-loss.js';

const running = (extra: Partial<Pod> = {}): Pod => ({
  metadata: { name: 'sb-x', ...extra.metadata },
  spec: { nodeName: 'n1', containers: [] },
  status: { phase: 'Running', ...extra.status },
});

test('a Running pod is not lost', () => {
  assert.equal(podLoss(running()), undefined);
});

test('each way a pod goes is named, the DisruptionTarget reason first', () => {
  const disrupted = (reason: string, message?: string) =>
    podLoss(
      running({
        metadata: { name: 'sb-x', deletionTimestamp: '2026-01-01T00:00:00Z' },
        status: {
          phase: 'Running',
          conditions: [{ type: 'DisruptionTarget', status: 'True', reason, message }],
        },
      }),
    );
  assert.equal(
    disrupted('EvictionByEvictionAPI', 'Eviction API: evicting'),
    'pod sb-x (node n1) was evicted: Eviction API: evicting',
  );
  assert.equal(disrupted('PreemptionByScheduler'), 'pod sb-x (node n1) was preempted by the scheduler');
  assert.equal(
    disrupted('DeletionByTaintManager'),
    'pod sb-x (node n1) was deleted for a NoExecute taint of its node',
  );
  assert.equal(
    disrupted('DeletionByPodGC'),
    'pod sb-x (node n1) was deleted by the garbage collector (its node is gone)',
  );
  assert.equal(disrupted('SomethingNew'), 'pod sb-x (node n1) was disrupted (SomethingNew)');
  assert.equal(
    podLoss(running({ metadata: { name: 'sb-x', deletionTimestamp: '2026-01-01T00:00:00Z' } })),
    'pod sb-x (node n1) was deleted',
  );
  assert.equal(
    podLoss(running({ status: { phase: 'Failed', reason: 'Evicted', message: 'low on memory' } })),
    'pod sb-x (node n1) ended (Failed: Evicted: low on memory)',
  );
});
