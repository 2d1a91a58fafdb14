import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuMillis } from '../../../src/planner/observer.js';
import { Deployments } from '../../../src/runtime/client/kinds.js';
import { intent, simulatedWorkload, startPlanner, waitForCondition } from './support.js';

// One replica of 100m (sidecar) + 200m (app) at 100 req/s answers in 35 ms; p95 ≤ 15 ms needs
// about 800m per pod, so the app container must grow to 700m or more.
test('the vertical actuator meets a latency objective on a single replica by raising its CPU', async (t) => {
  const { client, ns } = await simulatedWorkload(t, 'planner-cpu', {
    name: 'api',
    replicas: 1,
    cpu: '200m',
    load: 100,
  });
  await startPlanner(t, ns, {
    actuators: ['cpu_scale'],
    config: {
      controller: { controller_timeout: 1, plan_cache_ttl: 3000, plan_cache_timeout: 20000 },
      actuators: { cpu_scale: { boost_factor: 1.5 } },
    },
  });
  await client.create(
    intent(ns, 'api-p95', 'api', [{ name: 'p95', value: 15, measuredBy: `${ns}/p95latency` }]),
  );

  const done = await waitForCondition(client, ns, 'api-p95', 'Fulfilled', 'True');
  const p95 = done.status!.objectives!.find((o) => o.name === 'p95')!;
  assert.ok(p95.current! <= 15, `p95 ${p95.current} ms`);
  assert.equal(done.status!.lastPlan!.actions.at(-1)!.name, 'cpu_scale');
  const d = await client.get(Deployments, 'api', ns);
  assert.equal(d.spec!.replicas, 1);
  const [sidecar, app] = d.spec!.template!.spec!.containers;
  const request = cpuMillis(app!.resources!.requests!['cpu']);
  assert.ok(request >= 700 && request % 100 === 0, `app CPU request ${request}m (rounded to 100m)`);
  assert.equal(
    cpuMillis(app!.resources!.limits!['cpu']),
    Math.round(request * 1.5),
    'limit = request × boost_factor',
  );
  assert.equal(sidecar!.resources!.requests!['cpu'], '100m', 'the other container is left alone');
});
