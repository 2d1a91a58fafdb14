import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { conformOffline, parseObjects } from '../../../src/gitops/conform.js';
import { expectationsFrom } from '../../../src/gitops/input.js';
import { renderExpectation, renderTree } from '../../../src/gitops/render.js';
import { translateIntent } from '../../../src/gitops/translate.js';

const intent = {
  intent: '5G network',
  context: { area: 'campus' },
  requirements: { latency: '<1ms', throughput: '>1Gbps', prb: '<=80%', availability: '>=99.999%' },
};

function treeObjects(tree: ReadonlyMap<string, string>) {
  return [...tree].flatMap(([path, text]) => (path === 'kustomization.yaml' ? [] : parseObjects(text, path)));
}

describe('render', () => {
  test("the seed's layout, with one ConfigMap and one bundle per expectation", () => {
    const tree = renderTree(translateIntent(intent));
    assert.deepEqual(
      [...tree.keys()],
      [
        'apps/intent/cn_capacity.yaml',
        'apps/intent/ran_performance.yaml',
        'apps/intent/tn_coverage.yaml',
        'crds/bundles.yaml',
        'crds/namespaces.yaml',
        'kustomization.yaml',
      ],
    );
    const names = treeObjects(tree).map((s) => `${s.file} ${s.object.kind} ${s.object.metadata?.name}`);
    assert.deepEqual(names, [
      'apps/intent/cn_capacity.yaml ConfigMap expectation-cn-cap-001',
      'apps/intent/cn_capacity.yaml CNBundle cn-bundle-cn-cap-001',
      'apps/intent/cn_capacity.yaml ConfigMap expectation-cn-cap-002',
      'apps/intent/cn_capacity.yaml CNBundle cn-bundle-cn-cap-002',
      'apps/intent/ran_performance.yaml ConfigMap expectation-ran-perf-001',
      'apps/intent/ran_performance.yaml RANBundle ran-bundle-ran-perf-001',
      'apps/intent/tn_coverage.yaml ConfigMap expectation-tn-cov-001',
      'apps/intent/tn_coverage.yaml TNBundle tn-bundle-tn-cov-001',
      'crds/bundles.yaml CustomResourceDefinition cnbundles.cn.nephio.org',
      'crds/bundles.yaml CustomResourceDefinition ranbundles.ran.nephio.org',
      'crds/bundles.yaml CustomResourceDefinition tnbundles.tn.nephio.org',
      'crds/namespaces.yaml Namespace intent-to-krm',
      'crds/namespaces.yaml Namespace edge1',
    ]);
    assert.deepEqual(parse(tree.get('kustomization.yaml')!).resources, [
      'crds/namespaces.yaml',
      'crds/bundles.yaml',
      'apps/intent/cn_capacity.yaml',
      'apps/intent/ran_performance.yaml',
      'apps/intent/tn_coverage.yaml',
    ]);
  });

  test('ConfigMap labels, annotations and data; bundle spec', () => {
    const [cm, bundle] = renderExpectation(translateIntent(intent)[3]!);
    assert.deepEqual(cm, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'expectation-tn-cov-001',
        namespace: 'intent-to-krm',
        labels: {
          'expectation.nephio.org/id': 'tn-cov-001',
          'expectation.nephio.org/type': 'ServiceCoverage',
          'expectation.nephio.org/object-type': 'TransportNetwork',
        },
        annotations: {
          'expectation.nephio.org/target': 'availability GREATER_THAN_OR_EQUAL 99.999%',
          'expectation.nephio.org/context': 'area EQUAL campus',
        },
      },
      data: { 'expectation.json': (cm as { data: Record<string, string> }).data['expectation.json'] },
    });
    const data = JSON.parse((cm as { data: Record<string, string> }).data['expectation.json']!);
    assert.equal(data.intentExpectationTarget.targetValue, '99.999%');
    assert.deepEqual((bundle as { spec: unknown }).spec, {
      expectationId: 'tn-cov-001',
      expectationType: 'ServiceCoverage',
      objectInstance: 'edge1-transport',
      transportNetworks: ['midhaul', 'backhaul'],
      coverage: { availability: { condition: 'GREATER_THAN_OR_EQUAL', value: '99.999%' } },
    });
  });

  test('byte-identical output for the same input, whatever its key or item order', () => {
    const expectations = translateIntent(intent);
    const a = renderTree(expectations);
    // The same expectations read back from JSON with keys in another order, listed in reverse.
    const shuffled = expectations
      .map((e) => JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(e).reverse()))))
      .reverse();
    const b = renderTree(expectationsFrom(shuffled));
    assert.deepEqual([...b], [...a]);
    assert.deepEqual([...renderTree(translateIntent(intent))], [...a]);
  });

  test('app files without expectations are left out of the tree and the kustomization', () => {
    const tree = renderTree(translateIntent({ intent: 'x', requirements: { jitter: '<2ms' } }));
    assert.equal(tree.has('apps/intent/cn_capacity.yaml'), false);
    assert.deepEqual(parse(tree.get('kustomization.yaml')!).resources, [
      'crds/namespaces.yaml',
      'crds/bundles.yaml',
      'apps/intent/tn_coverage.yaml',
    ]);
  });

  test('a duplicate expectation id is refused', () => {
    const e = translateIntent(intent);
    assert.throws(() => renderTree([...e, e[0]!]), /expectation id cn-cap-001 appears twice/);
  });
});

describe('conform offline', () => {
  test('every rendered object passes the CRD schemas it ships with', () => {
    assert.deepEqual(conformOffline(treeObjects(renderTree(translateIntent(intent)))), []);
  });

  test('unknown fields, bad enums, missing fields and unknown kinds are reported', () => {
    const tree = renderTree(translateIntent(intent));
    const objects = treeObjects(tree);
    const cn = objects.find((s) => s.object.kind === 'CNBundle')!;
    const spec = (cn.object as unknown as { spec: Record<string, unknown> }).spec;
    spec['capacity'] = {
      latency: { condition: 'SOONER', value: '1ms' },
      colour: { condition: 'EQUAL', value: 'x' },
    };
    delete spec['objectInstance'];
    objects.push({
      file: 'extra.yaml',
      index: 0,
      object: { apiVersion: 'x.io/v1', kind: 'Thing', metadata: { name: 't' } },
    });
    assert.deepEqual(conformOffline(objects), [
      {
        object: 'apps/intent/cn_capacity.yaml#2 CNBundle intent-to-krm/cn-bundle-cn-cap-001',
        field: 'spec.objectInstance',
        message: 'required',
      },
      {
        object: 'apps/intent/cn_capacity.yaml#2 CNBundle intent-to-krm/cn-bundle-cn-cap-001',
        field: 'spec.capacity.colour',
        message: 'unknown field',
      },
      {
        object: 'apps/intent/cn_capacity.yaml#2 CNBundle intent-to-krm/cn-bundle-cn-cap-001',
        field: 'spec.capacity.latency.condition',
        message: 'must be one of LESS_THAN, LESS_THAN_OR_EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, EQUAL',
      },
      {
        object: 'extra.yaml#1 Thing t',
        field: 'kind',
        message: 'no CRD in the tree defines x.io/v1/Thing (give --kubeconfig to ask a cluster)',
      },
    ]);
  });

  test('a document that is not an object is named as such, once, not as a kind without a CRD', () => {
    const objects = parseObjects(
      '- a\n- b\n---\nhello\n---\nkind: ConfigMap\nmetadata: {name: m}\n',
      'x.yaml',
    );
    assert.deepEqual(conformOffline(objects), [
      {
        object: 'x.yaml#1 (no kind) (no name)',
        field: '(document)',
        message: 'is a list, not a Kubernetes object',
      },
      {
        object: 'x.yaml#2 (no kind) (no name)',
        field: '(document)',
        message: 'is the string "hello", not a Kubernetes object',
      },
      { object: 'x.yaml#3 ConfigMap m', field: 'apiVersion', message: 'required' },
    ]);
  });

  test('with a cluster to ask, a kind the tree does not define is left to the API server', () => {
    const objects = parseObjects(
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n',
      'web.yaml',
    );
    assert.equal(conformOffline(objects).length, 1);
    assert.deepEqual(conformOffline(objects, { cluster: true }), []);
  });
});
