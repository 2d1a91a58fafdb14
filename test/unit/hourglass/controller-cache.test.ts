import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedService } from '../../../src/hourglass/controller.js';

test('a cached Service keeps its selector and ports: the reconcile compares both with the spec', () => {
  const selector = { app: 'hourglass-performer', 'hourglass.eigenlayer.io/performer': 'web' };
  const ports = [{ name: 'grpc', port: 7000, targetPort: 'grpc', protocol: 'TCP' }];
  const cached = cachedService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'performer-web', namespace: 'a', managedFields: [{ manager: 'm' }] },
    spec: { selector, ports, clusterIP: '10.0.0.1', type: 'ClusterIP' },
  });
  assert.deepEqual(cached.spec, { selector, ports });
  assert.equal(cached.metadata?.managedFields, undefined);
});
