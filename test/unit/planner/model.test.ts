import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parsePlannerConfig } from '../../../src/planner/config.js';
import { resolveConflicts } from '../../../src/planner/conflicts.js';
import { LatencyModel } from '../../../src/planner/models/latency-model.js';
import { fitLinear } from '../../../src/planner/models/linear-fit.js';

test('least squares recovers a line and reports its fit', () => {
  const fit = fitLinear([1, 2, 3, 4], [3, 5, 7, 9.2])!;
  assert.ok(Math.abs(fit.slope - 2.06) < 1e-9);
  assert.ok(Math.abs(fit.intercept - 0.9) < 1e-9);
  assert.ok(fit.r2 > 0.99 && fit.r2 < 1);
  assert.equal(fitLinear([2, 2, 2], [1, 2, 3]), undefined, 'no slope to learn when x never varies');
});

test('the latency model needs enough samples and a rising line', () => {
  const s = (throughput: number, latency: number) => ({ throughput, replicas: 1, cpu: 1000, latency });
  assert.equal(LatencyModel.fromSamples([s(1, 1), s(2, 2), s(3, 3), s(4, 4)]), undefined);
  assert.equal(LatencyModel.fromSamples([s(1, 5), s(2, 4), s(3, 3), s(4, 2), s(5, 1)]), undefined);
  const model = LatencyModel.fromSamples([s(10, 3), s(20, 4), s(30, 5), s(40, 6), s(50, 7)])!;
  assert.equal(model.predict(60, 2, 500), 8);
});

test("the planner config takes IDO's defaults.json, and out-of-range values name their key", () => {
  const config = parsePlannerConfig('{"planner":{"astar":{"max_states":5000}}}');
  assert.equal(config.planner.astar.max_states, 5000);
  assert.equal(config.planner.astar.max_candidates, 10);
  assert.equal(config.controller.controller_timeout, 45);
  assert.equal(config.generic.mongo_endpoint, '', 'no configuration: the embedded trace store');
  assert.equal(
    parsePlannerConfig('{"generic":{"mongo_endpoint":"mongodb://planner-mongodb-service:27017/"}}').generic
      .mongo_endpoint,
    'mongodb://planner-mongodb-service:27017/',
  );
  const bad: [string, RegExp][] = [
    ['{"planner":{"astar":{"max_states":0}}}', /planner.astar.max_states: must be >= 1/],
    ['{"controller":{"workerz":1}}', /controller.workerz: unknown key/],
    ['{"actuators":{"cpu_scale":{"boost_factor":0.5}}}', /actuators.cpu_scale.boost_factor: must be >= 1/],
    ['{"actuators":{"scale_out":{"min_pods":9,"max_pods":3}}}', /min_pods \(9\) exceeds max_pods \(3\)/],
    [
      '{"generic":{"mongo_endpoint":"planner-mongodb-service:27017"}}',
      /generic.mongo_endpoint: "planner-mongodb-service:27017" is not a mongodb:\/\/ URI/,
    ],
    ['[1]', /must be a JSON object/],
    ['{', /not valid JSON/],
  ];
  for (const [json, message] of bad)
    assert.throws(
      () => parsePlannerConfig(json, 'defaults.json'),
      (e: unknown) =>
        e instanceof ConfigError && message.test(e.message) && e.message.startsWith('defaults.json: '),
    );
});

test('intents whose plans set the same workload differently conflict, and priority picks the plan', () => {
  const plan = (intent: string, priority: number, replicas: number, target = 'Deployment/shop/web') => ({
    intent,
    target,
    priority,
    created: '2024-01-01T00:00:00Z',
    actions: [{ name: 'scale_out', properties: { factor: replicas - 1, replicas } }],
  });
  const verdict = resolveConflicts([
    plan('shop/fast', 0.9, 5),
    plan('shop/cheap', 0.2, 2),
    plan('shop/other', 0.1, 3, 'Deployment/shop/db'),
  ]);
  assert.deepEqual([...verdict.winners].sort(), ['shop/fast', 'shop/other']);
  assert.deepEqual(Object.fromEntries(verdict.conflicts), {
    'shop/fast': ['shop/cheap'],
    'shop/cheap': ['shop/fast'],
  });
  const agreeing = resolveConflicts([plan('shop/a', 0.5, 4), plan('shop/b', 0.1, 4)]);
  assert.equal(agreeing.conflicts.size, 0);
  assert.deepEqual([...agreeing.winners].sort(), ['shop/a', 'shop/b']);
});
