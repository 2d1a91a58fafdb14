import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parseDuration } from '../../../src/cli/command.js';
import { KWOK_COMPLETE_DELAY_ANNOTATION, sandboxJob } from '../../../src/sandbox/job.js';
import { podProgress } from '../../../src/sandbox/pod-state.js';
import { firstFileOf, tarOf } from '../../../src/sandbox/tar.js';

test('the sandbox Job carries the seed names and a restricted, token-less pod', () => {
  const job = sandboxJob({
    name: 'sb',
    namespace: 'ns',
    image: 'img',
    activeDeadlineSeconds: 600,
    resources: { limits: { cpu: '500m' } },
    gpus: 2,
  });
  assert.equal(job.metadata?.labels?.['app'], 'ci-fixer-sandbox');
  assert.equal(job.spec?.ttlSecondsAfterFinished, 300);
  assert.equal(job.spec?.backoffLimit, 0);
  assert.equal(job.spec?.activeDeadlineSeconds, 600);
  const pod = job.spec!.template.spec!;
  assert.equal(job.spec?.template.metadata?.labels?.['app'], 'ci-fixer-sandbox');
  assert.equal(pod.serviceAccountName, 'ci-fixer-sandbox');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(pod.containers[0]?.securityContext?.allowPrivilegeEscalation, false);
  assert.deepEqual(pod.containers[0]?.resources?.limits, { cpu: '500m', 'nvidia.com/gpu': '2' });
  assert.equal(pod.tolerations?.[0]?.key, 'nvidia.com/gpu');
  const hold = job.spec?.template.metadata?.annotations?.[KWOK_COMPLETE_DELAY_ANNOTATION];
  assert.ok(hold && parseDuration(hold) >= 600_000, `simulated completion held past the deadline (${hold})`);
});

const pod = (status: Pod['status']): Pod => ({ metadata: { name: 'p' }, status });

test('pod progress: Running is ready; image and scheduling failures are final with the reason', () => {
  assert.deepEqual(podProgress(pod({ phase: 'Pending' })), { state: 'pending' });
  assert.deepEqual(podProgress(pod({ phase: 'Running' })), { state: 'running' });
  const pull = podProgress(
    pod({
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'sandbox',
          image: 'nope:1',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope:1"' } },
        },
      ],
    }),
  );
  assert.equal(pull.state, 'failed');
  assert.match((pull as { reason: string }).reason, /nope:1.*ImagePullBackOff/);
  const unschedulable = podProgress(
    pod({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/4 nodes are available',
        },
      ],
    }),
  );
  assert.match((unschedulable as { reason: string }).reason, /cannot be scheduled: 0\/4 nodes/);
});

test('a file packed with tarOf is read back by GNU tar and by firstFileOf', async () => {
  const content = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
  const archive = await tarOf('data.bin', content);
  assert.deepEqual(await firstFileOf(archive), { name: 'data.bin', content });
  const { spawnSync } = await import('node:child_process');
  const listed = spawnSync('tar', ['-tvf', '-'], { input: archive });
  assert.equal(listed.status, 0, listed.stderr.toString());
  assert.match(listed.stdout.toString(), /-rw-r--r-- .* 7 .*data\.bin/);
});
