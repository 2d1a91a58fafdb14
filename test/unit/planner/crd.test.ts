import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_QUERIES,
  defaultKpiProfiles,
  type KpiProfile,
} from '../../../src/apis/ido.intel.com/kpi-profile.js';
import { formatQuery, resolveProfile } from '../../../src/planner/profiles.js';

test('every default profile resolves through the default queries, availability without a query', () => {
  for (const p of defaultKpiProfiles()) {
    const r = resolveProfile(p, DEFAULT_QUERIES);
    assert.equal(r.resolved, true, `${p.metadata?.name}: ${r.resolved ? '' : r.reason}`);
  }
  const p95 = resolveProfile(defaultKpiProfiles()[1]!, DEFAULT_QUERIES);
  assert.ok(p95.resolved && p95.query.startsWith('histogram_quantile(0.95,'));
});

test('a custom profile without a query or an endpoint is unresolved, with the reason', () => {
  const custom = (spec: KpiProfile['spec']): KpiProfile => ({
    metadata: { name: 'mine', namespace: 'apps' },
    spec,
  });
  const noQuery = resolveProfile(custom({ type: 'latency' }), DEFAULT_QUERIES);
  assert.deepEqual(noQuery.resolved ? '' : noQuery.reason, 'profile apps/mine has no query (spec.query)');
  const noEndpoint = resolveProfile(custom({ type: 'latency', query: 'up' }), DEFAULT_QUERIES);
  assert.match(
    noEndpoint.resolved ? '' : noEndpoint.reason,
    /no Prometheus endpoint \(spec.props.endpoint\)/,
  );
  const badEndpoint = resolveProfile(
    custom({ type: 'latency', query: 'up', props: { endpoint: 'ftp://x' } }),
    {},
  );
  assert.match(badEndpoint.resolved ? '' : badEndpoint.reason, /"ftp:\/\/x" is not an http\(s\) URL/);
  const ok = resolveProfile(
    custom({ type: 'throughput', minimize: false, query: 'up', props: { endpoint: 'http://p:9090' } }),
    {},
  );
  assert.deepEqual(ok, {
    key: 'apps/mine',
    type: 'throughput',
    minimize: false,
    resolved: true,
    query: 'up',
    endpoint: 'http://p:9090',
  });
});

test("IDO's %s placeholders take namespace, kind label, name, kind label", () => {
  assert.equal(
    formatQuery(DEFAULT_QUERIES['default/p50latency']!.query, 'shop', 'deployment', 'cart'),
    'histogram_quantile(0.5,sum(irate(response_latency_ms_bucket{namespace="shop",deployment="cart",direction="inbound"}[30s]))by(le,deployment))',
  );
});

test('an availability or throughput profile left at minimize: true resolves with a warning saying so', () => {
  const p = (type: KpiProfile['spec']['type'], minimize?: boolean): KpiProfile => ({
    metadata: { name: 'avail', namespace: 'apps' },
    spec: {
      type,
      query: 'up',
      props: { endpoint: 'http://p:9090' },
      ...(minimize === undefined ? {} : { minimize }),
    },
  });
  const warned = resolveProfile(p('availability'), {});
  assert.equal(warned.resolved, true);
  assert.equal(
    warned.resolved && warned.warning,
    'minimize is true (the default) for an availability KPI: objectives on it are upper bounds (want ≤ value); set minimize: false for a lower bound',
  );
  const rps = resolveProfile(p('throughput', true), {});
  assert.match((rps.resolved && rps.warning) || '', /for a throughput KPI/);
  for (const quiet of [p('availability', false), p('latency')]) {
    const r = resolveProfile(quiet, {});
    assert.equal(r.resolved && r.warning, undefined);
  }
});
