import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expectationsFrom } from '../../../src/gitops/input.js';
import { TranslateError, translateIntent } from '../../../src/gitops/translate.js';
import { formatQuantity, parseQuantity } from '../../../src/gitops/units.js';

function problemsOf(input: unknown): { field: string; message: string }[] {
  try {
    translateIntent(input);
  } catch (err) {
    assert.ok(err instanceof TranslateError, `expected a TranslateError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected the intent to be rejected');
}

describe('units', () => {
  test('normalise to ms, Mbps, % and bare counts', () => {
    assert.equal(formatQuantity(parseQuantity('1Gbps', 'bitrate')), '1000Mbps');
    assert.equal(formatQuantity(parseQuantity('100 kbps', 'bitrate')), '0.1Mbps');
    assert.equal(formatQuantity(parseQuantity('500us', 'time')), '0.5ms');
    assert.equal(formatQuantity(parseQuantity('0.1s', 'time')), '100ms');
    assert.equal(formatQuantity(parseQuantity('99.999%', 'percent')), '99.999%');
    assert.equal(formatQuantity(parseQuantity('2000', 'count')), '2000');
  });
  test('reject wrong units, missing units and impossible values', () => {
    assert.throws(() => parseQuantity('1Gbps', 'time'), /"Gbps" is not a unit of time/);
    assert.throws(() => parseQuantity('5', 'time'), /has no unit/);
    assert.throws(() => parseQuantity('101%', 'percent'), /more than 100%/);
    assert.throws(() => parseQuantity('-1ms', 'time'), /negative/);
    assert.throws(() => parseQuantity('1.5', 'count'), /whole number/);
    assert.throws(() => parseQuantity('fast', 'time'), /not a number/);
  });
  test('refuse a value too large to hold, rather than render "Infinity"', () => {
    assert.throws(() => parseQuantity('1e400Gbps', 'bitrate'), /"1e400Gbps" is too large/);
    // Finite as written, beyond every number once scaled to Mbps.
    assert.throws(() => parseQuantity('1e303Tbps', 'bitrate'), /"1e303Tbps" is too large/);
    assert.throws(() => parseQuantity('1e400', 'count'), /"1e400" is too large/);
    assert.deepEqual(problemsOf({ intent: 'x', requirements: { throughput: '>=1e400Gbps' } }), [
      { field: 'requirements.throughput', message: '"1e400Gbps" is too large' },
    ]);
    assert.equal(formatQuantity(parseQuantity('1e300Tbps', 'bitrate')), '1e+306Mbps');
  });
});

describe('translate the short form', () => {
  test("the seed's example becomes two CoreNetwork capacity expectations", () => {
    const out = translateIntent({
      intent: '5G network',
      requirements: { latency: '<1ms', throughput: '>1Gbps' },
    });
    assert.deepEqual(out, [
      {
        intentExpectationId: 'cn-cap-001',
        intentExpectationType: 'ServiceCapacity',
        intentExpectationContext: [],
        intentExpectationTarget: {
          targetAttribute: 'latency',
          targetCondition: 'LESS_THAN',
          targetValue: '1ms',
        },
        intentExpectationObject: { objectType: 'CoreNetwork', objectInstance: 'edge1-core' },
        members: ['5g-network'],
      },
      {
        intentExpectationId: 'cn-cap-002',
        intentExpectationType: 'ServiceCapacity',
        intentExpectationContext: [],
        intentExpectationTarget: {
          targetAttribute: 'throughput',
          targetCondition: 'GREATER_THAN',
          targetValue: '1000Mbps',
        },
        intentExpectationObject: { objectType: 'CoreNetwork', objectInstance: 'edge1-core' },
        members: ['5g-network'],
      },
    ]);
  });

  test('RAN, TN, context, site and aliases', () => {
    const out = translateIntent({
      intent: 'URLLC slice',
      site: 'edge2',
      context: { area: 'campus', sliceType: ['URLLC', 'eMBB'] },
      requirements: {
        'prb-utilization': '<= 80 %',
        availability: '>=99.999%',
        jitter: '< 500us',
        users: 2000,
      },
    });
    assert.deepEqual(
      out.map((e) => [
        e.intentExpectationId,
        e.intentExpectationObject.objectInstance,
        e.intentExpectationTarget,
      ]),
      [
        [
          'ran-perf-001',
          'edge2-ran',
          { targetAttribute: 'prbUtilization', targetCondition: 'LESS_THAN_OR_EQUAL', targetValue: '80%' },
        ],
        [
          'tn-cov-001',
          'edge2-transport',
          {
            targetAttribute: 'availability',
            targetCondition: 'GREATER_THAN_OR_EQUAL',
            targetValue: '99.999%',
          },
        ],
        [
          'tn-cov-002',
          'edge2-transport',
          { targetAttribute: 'jitter', targetCondition: 'LESS_THAN', targetValue: '0.5ms' },
        ],
        [
          'cn-cap-001',
          'edge2-core',
          { targetAttribute: 'maxSubscribers', targetCondition: 'EQUAL', targetValue: '2000' },
        ],
      ],
    );
    assert.deepEqual(out[0]!.intentExpectationContext, [
      { contextAttribute: 'area', contextCondition: 'EQUAL', contextValueRange: ['campus'] },
      { contextAttribute: 'sliceType', contextCondition: 'ONE_OF', contextValueRange: ['URLLC', 'eMBB'] },
    ]);
  });

  test('a compatible range on one attribute is two expectations', () => {
    const out = translateIntent({ intent: 'x', requirements: { latency: ['>1ms', '<=10ms'] } });
    assert.deepEqual(
      out.map((e) => e.intentExpectationTarget.targetCondition),
      ['GREATER_THAN', 'LESS_THAN_OR_EQUAL'],
    );
  });

  test('unknown requirements and fields are named', () => {
    assert.deepEqual(
      problemsOf({ intent: 'x', requirements: { latency: '<1ms', colour: 'blue' }, extra: 1 }),
      [
        {
          field: 'extra',
          message:
            'unknown field; expected one of id, intent, requirements, context, site, slice, networkFunctions, transportNetworks',
        },
        {
          field: 'requirements.colour',
          message:
            'unknown requirement; known: latency, throughput, maxSessions, maxSubscribers, userThroughput, radioLatency, prbUtilization, handoverSuccessRate, packetLoss, availability, reliability, bandwidth, jitter',
        },
      ],
    );
  });

  test('contradictory requirements are named', () => {
    const problems = problemsOf({ intent: 'x', requirements: { latency: ['<1ms', '>=1ms'] } });
    assert.deepEqual(problems, [
      {
        field: 'requirements.latency[1]',
        message:
          'contradicts requirements.latency[0]: latency cannot be LESS_THAN 1ms and GREATER_THAN_OR_EQUAL 1ms',
      },
    ]);
    // An alias and its attribute constrain the same thing.
    assert.match(
      problemsOf({ intent: 'x', requirements: { latency: '<1ms', e2eLatency: '=2000us' } })[0]!.message,
      /contradicts requirements.latency/,
    );
    assert.equal(
      problemsOf({ intent: 'x', requirements: { latency: ['<=1ms', '>=1ms', '<1ms'] } }).length,
      1,
    );
  });

  test('bad values and wrong units are named', () => {
    assert.deepEqual(problemsOf({ intent: 'x', requirements: { latency: '>1Gbps', availability: '120%' } }), [
      {
        field: 'requirements.latency',
        message: '"Gbps" is not a unit of time; use one of ns, us, µs, ms, s, sec, min',
      },
      { field: 'requirements.availability', message: '"120%" is more than 100%' },
    ]);
    assert.deepEqual(problemsOf({ intent: '', requirements: {} }), [
      { field: 'intent', message: 'required: a short description such as "5G network"' },
      { field: 'requirements', message: 'no requirements given' },
    ]);
    assert.equal(problemsOf([1, 2])[0]!.field, '(root)');
    // An empty range would translate into nothing, and a publish would then empty the repository.
    assert.deepEqual(problemsOf({ intent: 'x', requirements: { latency: [] } }), [
      { field: 'requirements.latency', message: 'an empty list: give a constraint, or two for a range' },
    ]);
  });
});

describe('translate a TMF921 v5 Intent', () => {
  const intent = {
    id: 'a1b2c3',
    name: 'Stadium 5G',
    '@type': 'Intent',
    lifecycleStatus: 'created',
    intentSpecification: { id: 'spec-1', '@type': 'EntityRef' },
    expression: {
      '@type': 'JsonLdExpression',
      expressionLanguage: 'JSON-LD',
      expressionValue: {
        '@context': { icm: 'http://www.models.tmforum.org/tio/v1.0.0/IntentCommonModel#' },
        requirements: { latency: '<5ms', reliability: '>99.99%', userThroughput: '>=100Mbps' },
      },
    },
  };

  test('expectation ids carry the intent id, the slice comes from the name', () => {
    const out = translateIntent(intent);
    assert.deepEqual(
      out.map((e) => [e.intentExpectationId, e.intentId, e.members]),
      [
        ['a1b2c3-cn-cap-001', 'a1b2c3', ['stadium-5g']],
        ['a1b2c3-tn-cov-001', 'a1b2c3', ['midhaul', 'backhaul']],
        ['a1b2c3-ran-perf-001', 'a1b2c3', ['gnb-cu', 'gnb-du']],
      ],
    );
  });

  test("the expression's id names the intent when the Intent has none; two different ids are refused", () => {
    const { id: _, ...anonymous } = intent;
    const named = (value: Record<string, unknown>) => ({
      ...anonymous,
      expression: {
        ...intent.expression,
        expressionValue: { ...intent.expression.expressionValue, ...value },
      },
    });
    assert.deepEqual(
      translateIntent(named({ id: 'stadium' })).map((e) => [e.intentExpectationId, e.intentId]),
      [
        ['stadium-cn-cap-001', 'stadium'],
        ['stadium-tn-cov-001', 'stadium'],
        ['stadium-ran-perf-001', 'stadium'],
      ],
    );
    assert.equal(translateIntent({ ...named({ id: 'a1b2c3' }), id: 'a1b2c3' }).length, 3);
    assert.deepEqual(problemsOf({ ...named({ id: 'stadium' }), id: 'a1b2c3' }), [
      {
        field: 'expression.expressionValue.id',
        message: `"stadium" differs from the Intent's id "a1b2c3"; give one of them, or the same in both`,
      },
    ]);
    assert.deepEqual(
      problemsOf(named({ id: 'Not_A_Label' })).map((p) => p.field),
      ['expression.expressionValue.id'],
    );
  });

  test('expressionValue may be a JSON string', () => {
    const out = translateIntent({
      ...intent,
      expression: {
        ...intent.expression,
        expressionValue: JSON.stringify(intent.expression.expressionValue),
      },
    });
    assert.equal(out.length, 3);
  });

  test('an expressionValue string with a key given twice is refused, not read last-wins', () => {
    assert.deepEqual(
      problemsOf({
        ...intent,
        expression: { expressionValue: '{"requirements": {"latency": "<1ms", "latency": "<50ms"}}' },
      }).map((p) => `${p.field}: ${p.message}`),
      [
        'expression.expressionValue: not JSON: duplicate key "latency" at /requirements/latency (line 1, column 38)',
      ],
    );
  });

  test('unsupported language, bad expression and bad id are named', () => {
    assert.deepEqual(
      problemsOf({ ...intent, expression: { expressionLanguage: 'Turtle', expressionValue: '' } }).map(
        (p) => p.field,
      ),
      ['expression.expressionLanguage'],
    );
    assert.deepEqual(
      problemsOf({ ...intent, expression: { expressionValue: '{not json' } }).map((p) => p.field),
      ['expression.expressionValue'],
    );
    assert.deepEqual(
      problemsOf({
        ...intent,
        id: 'Not_A_Label',
        expression: { expressionValue: { requirements: { lag: '1ms' } } },
      }).map((p) => p.field),
      ['id', 'expression.expressionValue.requirements.lag'],
    );
  });
});

describe('a list of intents', () => {
  test('two intents that would make the same expectation id are refused, naming the second', () => {
    const a = { intent: 'a', requirements: { latency: '<5ms', jitter: '<2ms' } };
    const b = { intent: 'b', requirements: { latency: '<9ms' } };
    assert.throws(
      () => expectationsFrom([a, b]),
      (err: unknown) => {
        assert.ok(err instanceof TranslateError);
        assert.deepEqual(err.problems, [
          { field: '[1].id', message: 'makes cn-cap-001, as [0] does; give each intent its own id' },
        ]);
        return true;
      },
    );
    // With ids of their own, both are translated.
    const ids = expectationsFrom([
      { ...a, id: 'a' },
      { ...b, id: 'b' },
    ]).map((e) => e.intentExpectationId);
    assert.deepEqual(ids, ['a-cn-cap-001', 'a-tn-cov-001', 'b-cn-cap-001']);
  });
});
