import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { Condition, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { kind } from '../../runtime/client/types.js';
import { conditionsSchema } from '../condition-schema.js';
import { ageColumn, customResourceDefinition } from '../crd.js';

/** `tutti.dev/v1alpha1 GitSync` (cluster-scoped): one edge sync from a git repository and its status. */
export interface GitSync {
  apiVersion: 'tutti.dev/v1alpha1';
  kind: 'GitSync';
  metadata: ObjectMeta;
  spec: { repo: string; branch: string; dir: string; period: string };
  status?: GitSyncStatus;
}

export interface InventoryEntry {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface GitSyncStatus {
  observedGeneration?: number;
  /** The commit last applied. */
  commit?: string;
  lastSyncTime?: string;
  /** Objects applied from that commit. */
  objects?: number;
  errors?: string[];
  conditions?: Condition[];
  /** Everything this sync applied and so may prune. */
  inventory?: InventoryEntry[];
}

export const GitSyncs = kind<GitSync>('tutti.dev/v1alpha1', 'GitSync');

export function gitSyncCrd(): CustomResourceDefinition {
  const str = { type: 'string' } as const;
  return customResourceDefinition({
    group: 'tutti.dev',
    version: 'v1alpha1',
    kind: 'GitSync',
    plural: 'gitsyncs',
    scope: 'Cluster',
    spec: {
      type: 'object',
      required: ['repo', 'branch', 'dir', 'period'],
      properties: { repo: str, branch: str, dir: str, period: str },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64' },
        commit: str,
        lastSyncTime: { type: 'string', format: 'date-time' },
        objects: { type: 'integer' },
        errors: { type: 'array', items: str },
        conditions: conditionsSchema,
        inventory: {
          type: 'array',
          items: {
            type: 'object',
            required: ['apiVersion', 'kind', 'name'],
            properties: { apiVersion: str, kind: str, namespace: str, name: str },
          },
        },
      },
    },
    printerColumns: [
      { name: 'Commit', type: 'string', jsonPath: '.status.commit' },
      { name: 'Objects', type: 'integer', jsonPath: '.status.objects' },
      { name: 'Synced', type: 'string', jsonPath: '.status.conditions[?(@.type=="Synced")].status' },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Synced")].reason' },
      { name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime' },
      ageColumn,
    ],
  });
}
