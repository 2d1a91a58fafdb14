import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Intent } from '../../../src/apis/ido.intel.com/intent.js';
import { podTargets } from '../../../src/planner/controller.js';
import {
  cpuMillis,
  KpiObserver,
  parseTargetRef,
  podInTrouble,
  podState,
  selectorString,
} from '../../../src/planner/observer.js';
import { nextIntentStatus } from '../../../src/planner/status.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';

const intent = (name: string, kind?: string): Intent => ({
  metadata: { name: 'i', namespace: 'shop', generation: 3 },
  spec: {
    targetRef: { name, ...(kind ? { kind: kind as 'Deployment' } : {}) },
    objectives: [
      { name: 'p95', value: 10, measuredBy: 'shop/p95latency' },
      { name: 'up', value: 0.99, measuredBy: 'shop/availability' },
    ],
  },
});

test('CPU quantities and target references are read as IDO writes them, or refused with the reason', () => {
  assert.equal(cpuMillis('500m'), 500);
  assert.equal(cpuMillis('0.25'), 250);
  assert.equal(cpuMillis(2), 2000);
  assert.equal(cpuMillis(undefined), 0);
  assert.throws(() => cpuMillis('1Ki'), /CPU quantity "1Ki" is not understood/);
  assert.deepEqual(parseTargetRef(intent('default/web')), {
    kind: 'Deployment',
    namespace: 'default',
    name: 'web',
  });
  assert.deepEqual(parseTargetRef(intent('web', 'ReplicaSet')), {
    kind: 'ReplicaSet',
    namespace: 'shop',
    name: 'web',
  });
  assert.equal(parseTargetRef(intent('a/b/c')), 'targetRef.name "a/b/c" is not <namespace>/<name>');
  assert.match(
    String(parseTargetRef(intent('a/b', 'StatefulSet'))),
    /kind StatefulSet is not one of Deployment, ReplicaSet/,
  );
  assert.equal(
    selectorString({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,tier in (a,b),!canary',
  );
});

test('a pod in CrashLoopBackOff or restarted is in trouble; a ready one is healthy', () => {
  const pod = (status: Pod['status']): Pod => ({ metadata: { name: 'p' }, status });
  const ready = pod({
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [{ name: 'app', image: 'x', imageID: '', ready: true, restartCount: 0 }],
  });
  assert.deepEqual(podState(ready), { ready: true, restarts: 0, failed: false });
  assert.equal(podInTrouble(ready), false);
  const crashing = pod({
    phase: 'Running',
    containerStatuses: [
      {
        name: 'app',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 4,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
      },
    ],
  });
  assert.deepEqual(podState(crashing), { ready: false, restarts: 4, failed: true });
  assert.equal(podInTrouble(crashing), true);
  assert.equal(podState(pod({ phase: 'Failed' })).failed, true);
  // A pod's trouble reaches the intents on its ReplicaSet and on the Deployment owning that.
  const owned: Pod = {
    metadata: {
      name: 'web-7d9f8-abcde',
      namespace: 'shop',
      labels: { 'pod-template-hash': '7d9f8' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8', uid: 'u', controller: true },
      ],
    },
  };
  assert.deepEqual(podTargets(owned), ['ReplicaSet/shop/web-7d9f8', 'Deployment/shop/web']);
  assert.deepEqual(podTargets({ metadata: { name: 'bare', namespace: 'shop' } }), []);
});

test('a pod not Ready yet is starting while it is not running, or within what its probes allow; not once past that, restarted or failed', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const ago = (s: number) => new Date(now - s * 1000).toISOString();
  const running = (startedSecondsAgo: number, readinessProbe?: Record<string, number>): Pod => ({
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'app', ...(readinessProbe ? { readinessProbe } : {}) }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        {
          name: 'app',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { running: { startedAt: ago(startedSecondsAgo) } },
        },
      ],
    },
  });
  // Scheduling, pulling, init containers: not judged yet.
  assert.deepEqual(podState({ metadata: { name: 'p' }, status: { phase: 'Pending' } }, now), {
    ready: false,
    restarts: 0,
    failed: false,
    starting: true,
  });
  // Without probes, ready moments after the start.
  assert.equal(podState(running(5), now).starting, true);
  assert.equal(podState(running(60), now).starting, undefined);
  // A readiness probe with a 120 s delay, every 5 s, 3 failures allowed: 135 s.
  const slow = { initialDelaySeconds: 120, periodSeconds: 5, failureThreshold: 3 };
  assert.equal(podState(running(130, slow), now).starting, true);
  assert.equal(podState(running(140, slow), now).starting, undefined);
  // Restarted or failing: not starting, whatever the probes allow.
  const restarted = running(5, slow);
  restarted.status!.containerStatuses![0]!.restartCount = 1;
  assert.equal(podState(restarted, now).starting, undefined);
  const pulling = running(5);
  pulling.status!.phase = 'Pending';
  pulling.status!.containerStatuses![0]!.state = { waiting: { reason: 'ImagePullBackOff' } };
  assert.deepEqual(podState(pulling, now), { ready: false, restarts: 0, failed: true });
});

test('the status says what was observed and what not, and conditions keep their transition time', () => {
  const goal = {
    p95: { value: 10, minimize: true, tolerance: 0.1, type: 'latency' as const },
    up: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' as const },
  };
  const t0 = new Date('2026-01-01T00:00:00Z');
  const degraded = nextIntentStatus(
    intent('shop/web'),
    {
      values: { up: 1 },
      goal,
      degraded: {
        reason: 'ObservationFailed',
        message: 'p95: http://prom/api/v1/query is unreachable: ECONNREFUSED',
      },
      planning: { status: 'False', reason: 'NotObserved', message: 'not planned' },
    },
    t0,
  );
  assert.deepEqual(degraded.objectives, [{ name: 'p95' }, { name: 'up', current: 1, met: true }]);
  const cond = (s: typeof degraded, type: string) => s.conditions!.find((c) => c.type === type)!;
  assert.equal(cond(degraded, 'Fulfilled').status, 'Unknown');
  assert.equal(cond(degraded, 'Degraded').status, 'True');
  assert.equal(cond(degraded, 'Degraded').observedGeneration, 3);
  assert.equal(degraded.lastPlan, undefined);

  const t1 = new Date('2026-01-01T00:01:00Z');
  const unmet = nextIntentStatus(
    { ...intent('shop/web'), status: degraded },
    {
      values: { p95: 11.5, up: 1 },
      goal,
      planning: { status: 'False', reason: 'NotObserved', message: 'not planned' },
    },
    t1,
  );
  assert.equal(cond(unmet, 'Fulfilled').status, 'False');
  assert.equal(cond(unmet, 'Fulfilled').message, 'p95 11.5 (want ≤ 11)');
  assert.equal(cond(unmet, 'Degraded').status, 'False');
  assert.equal(cond(unmet, 'Planning').lastTransitionTime, cond(degraded, 'Planning').lastTransitionTime);
  assert.notEqual(cond(unmet, 'Degraded').lastTransitionTime, cond(degraded, 'Degraded').lastTransitionTime);
});

test('a round that only refreshes values (the workload settles) keeps what the last planning round said: a failed plan, a conflict', () => {
  const goal = {
    p95: { value: 10, minimize: true, tolerance: 0, type: 'latency' as const },
    up: { value: 0.99, minimize: false, tolerance: 0, type: 'availability' as const },
  };
  const planned = nextIntentStatus(intent('shop/web'), {
    values: { p95: 12, up: 1 },
    goal,
    planning: {
      status: 'False',
      reason: 'ActuationFailed',
      message: 'carrying out the plan failed: refused',
    },
    degraded: { reason: 'ActuationFailed', message: 'carrying out the plan failed: refused' },
    conflict: { with: ['shop/other'], message: 'plan conflicts with shop/other (priority 0.5)' },
  });
  const refresh = (degraded?: { reason: string; message: string }) =>
    nextIntentStatus(
      { ...intent('shop/web'), status: planned },
      {
        values: { p95: 11, up: 1 },
        goal,
        ...(degraded ? { degraded } : {}),
        planning: { status: 'True', reason: 'Settling', message: 'waiting for the last plan to take effect' },
        keep: { conflict: true, planning: true, degraded: true },
      },
    );
  const reasons = (s: ReturnType<typeof refresh>) =>
    ['Fulfilled', 'Planning', 'Conflict', 'Degraded'].map(
      (t) => s.conditions!.find((c) => c.type === t)!.reason,
    );
  const kept = refresh();
  assert.deepEqual(reasons(kept), [
    'ObjectivesNotMet',
    'ActuationFailed',
    'ConflictingPlans',
    'ActuationFailed',
  ]);
  assert.deepEqual(kept.objectives, [
    { name: 'p95', current: 11, met: false },
    { name: 'up', current: 1, met: true },
  ]);
  // What is wrong now says so over what was wrong when the plan failed.
  assert.deepEqual(reasons(refresh({ reason: 'ObservationFailed', message: 'p95: unreachable' })), [
    'ObjectivesNotMet',
    'ActuationFailed',
    'ConflictingPlans',
    'ObservationFailed',
  ]);
});

test('an intent with two objectives of one name is not observed, and its status can still be written', async () => {
  const twice: Intent = {
    metadata: { name: 'i', namespace: 'shop' },
    spec: {
      targetRef: { name: 'web' },
      objectives: [
        { name: 'slo', value: 10, measuredBy: 'shop/p95latency' },
        { name: 'slo', value: 0.99, measuredBy: 'shop/availability' },
      ],
    },
  };
  // Refused before anything is read: the client is never asked.
  const observer = new KpiObserver({
    client: {} as KubeClient,
    prometheus: {} as never,
    profile: () => undefined,
    defaultQueries: {},
  });
  assert.deepEqual(await observer.observe(twice), {
    ok: false,
    reason: 'DuplicateObjective',
    message: 'objective name "slo" appears more than once; objective names must be unique',
  });
  // status.objectives is a list-map keyed by name: one entry per name.
  const status = nextIntentStatus(twice, {
    values: {},
    goal: {},
    degraded: { reason: 'DuplicateObjective', message: 'x' },
    planning: { status: 'False', reason: 'NotObserved', message: 'not planned' },
  });
  assert.deepEqual(status.objectives, [{ name: 'slo' }]);
});
