import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Intent } from '../../../src/apis/ido.intel.com/intent.js';
import { plannerRunCommand } from '../../../src/planner/planner-command.js';
import { samplePluginCommand } from '../../../src/planner/plugins/cli.js';
import { resolveProfile } from '../../../src/planner/profiles.js';
import { unmeetable } from '../../../src/planner/state.js';
import { nextIntentStatus } from '../../../src/planner/status.js';

test('a numeric props.endpoint is reported as not a string, not as missing', () => {
  const r = resolveProfile(
    {
      metadata: { name: 'p95', namespace: 'shop' },
      spec: { type: 'latency', query: 'up', props: { endpoint: 9090 } },
    },
    {},
  );
  assert.equal(
    r.resolved ? '' : r.reason,
    'profile shop/p95: spec.props.endpoint must be a string (the Prometheus query URL), got number 9090',
  );
});

test('an inactive intent is Degraded=False for being inactive, not "Observed"', () => {
  const intent: Intent = {
    metadata: { name: 'i', namespace: 'shop' },
    spec: {
      targetRef: { name: 'web' },
      active: false,
      objectives: [{ name: 'p95', value: 1, measuredBy: 'p95' }],
    },
  };
  const status = nextIntentStatus(intent, {
    values: {},
    goal: {},
    planning: { status: 'False', reason: 'Inactive', message: 'spec.active is false' },
    notDegraded: 'Inactive',
  });
  const degraded = status.conditions!.find((c) => c.type === 'Degraded')!;
  assert.deepEqual([degraded.status, degraded.reason], ['False', 'Inactive']);
});

test('planner flags name themselves as the user typed them: --manager needs host:port, -v/--verbosity a number', async () => {
  await assert.rejects(
    async () => samplePluginCommand.run({ manager: 'localhost', port: '0', 'max-pods': '8' }, []),
    {
      name: 'UsageError',
      message: '--manager: "localhost" must be host:port (e.g. 127.0.0.1:33333)',
    },
  );
  await assert.rejects(async () => plannerRunCommand.run({ verbosity: 'x' }, []), {
    name: 'UsageError',
    message: '-v/--verbosity: "x" must be a whole number from 0 to 10',
  });
});

test('objectives no workload can meet are named with the reason; reachable ones are not', () => {
  const g = (
    type: 'latency' | 'availability' | 'throughput',
    value: number,
    minimize: boolean,
    tolerance = 0,
  ) => unmeetable({ type, value, minimize, tolerance });
  assert.equal(g('latency', -5, true), 'value -5 is negative; a latency KPI never is');
  assert.equal(g('throughput', -1, false), 'value -1 is negative; a throughput KPI never is');
  assert.equal(g('latency', 0, true), 'a latency of at most 0 can never be met');
  assert.equal(
    g('availability', 1, false, -0.5),
    'an availability of at least 1.5 can never be met: it is a fraction of pods, at most 1',
  );
  assert.equal(
    g('availability', 1.2, false),
    'an availability of at least 1.2 can never be met: it is a fraction of pods, at most 1',
  );
  for (const ok of [
    g('latency', 15, true, 0.1),
    g('availability', 1, false),
    g('throughput', 0, false),
    g('latency', 1e9, true),
  ])
    assert.equal(ok, undefined);
});

test('bad tutti planner flags are refused before any file or kubeconfig is read', async () => {
  // A kubeconfig that cannot exist: reading it would fail with another message.
  const base = {
    kubeconfig: '/nonexistent/kubeconfig',
    config: '/nonexistent/defaults.json',
    'health-port': '8081',
  };
  await assert.rejects(async () => plannerRunCommand.run({ ...base, 'health-port': 'abc' }, []), {
    name: 'UsageError',
    message: '--health-port: "abc" must be a whole number from 0 to 65535',
  });
  await assert.rejects(async () => plannerRunCommand.run({ ...base, 'plugin-port': '70000' }, []), {
    name: 'UsageError',
    message: '--plugin-port: "70000" must be a whole number from 0 to 65535',
  });
  await assert.rejects(
    async () => plannerRunCommand.run({ ...base, actuator: ['scale_out', 'scale_up'] }, []),
    {
      name: 'UsageError',
      message: '--actuator: unknown actuator "scale_up"; choose from scale_out, scale_in, rm_pod, cpu_scale',
    },
  );
});
