import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { beyondStatus } from '../../../src/runtime/controller.js';

const object = (metadata: KubeObject['metadata'], status?: unknown): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Thing', metadata: { name: 'a', ...metadata }, status }) as KubeObject;

test('beyondStatus: a status write or a new resourceVersion alone is not worth a reconcile', () => {
  const before = object({ generation: 1, resourceVersion: '1', labels: { a: 'b' } }, { phase: 'Pending' });
  const after = object({ generation: 1, resourceVersion: '2', labels: { a: 'b' } }, { phase: 'Running' });
  assert.equal(beyondStatus(before, after), false);
});

test('beyondStatus: the spec (a new generation), deletion, finalizers, labels and annotations are', () => {
  const base = { generation: 1, labels: { a: 'b' }, annotations: { x: 'y' }, finalizers: ['f'] };
  const changes: KubeObject['metadata'][] = [
    { ...base, generation: 2 },
    { ...base, deletionTimestamp: '2026-01-01T00:00:00Z' },
    { ...base, finalizers: [] },
    { ...base, labels: { a: 'c' } },
    { ...base, annotations: {} },
  ];
  for (const m of changes) assert.equal(beyondStatus(object(base), object(m)), true, JSON.stringify(m));
});
