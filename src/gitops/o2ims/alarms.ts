import type { Node, NodeCondition } from 'kubernetes-types/core/v1.js';
import { type ResourceInfo, stableId } from './inventory.js';

/**
 * O2IMS infrastructure monitoring alarms, read from the nodes' conditions: a node that is not
 * Ready, under memory, disk or PID pressure, without network, or cordoned raises an alarm on its
 * resource for as long as the condition holds. Shapes follow O2IMS's AlarmEventRecord.
 */

export type PerceivedSeverity = 'CRITICAL' | 'MAJOR' | 'MINOR' | 'WARNING' | 'INDETERMINATE' | 'CLEARED';

export interface AlarmEventRecord {
  alarmEventRecordId: string;
  resourceTypeID: string;
  resourceID: string;
  alarmDefinitionID: string;
  probableCauseID: string;
  alarmRaisedTime: string;
  alarmChangedTime?: string;
  alarmAcknowledgeTime?: string;
  alarmAcknowledged: boolean;
  perceivedSeverity: PerceivedSeverity;
  extensions: Record<string, unknown>;
}

/** The alarms this O-Cloud raises, by the node condition (and value) behind each. */
export const ALARM_DEFINITIONS = [
  { id: 'NodeNotReady', condition: 'Ready', raisedWhen: ['False', 'Unknown'], severity: 'CRITICAL' },
  {
    id: 'NodeNetworkUnavailable',
    condition: 'NetworkUnavailable',
    raisedWhen: ['True'],
    severity: 'CRITICAL',
  },
  { id: 'NodeMemoryPressure', condition: 'MemoryPressure', raisedWhen: ['True'], severity: 'MAJOR' },
  { id: 'NodeDiskPressure', condition: 'DiskPressure', raisedWhen: ['True'], severity: 'MAJOR' },
  { id: 'NodePIDPressure', condition: 'PIDPressure', raisedWhen: ['True'], severity: 'MAJOR' },
] as const satisfies readonly {
  id: string;
  condition: string;
  raisedWhen: readonly string[];
  severity: PerceivedSeverity;
}[];

const CORDONED = 'NodeCordoned';

/** Alarms for the given nodes; `resources` maps them to their O2IMS resource (by node name). */
export function buildAlarms(nodes: readonly Node[], resources: readonly ResourceInfo[]): AlarmEventRecord[] {
  const byName = new Map(resources.map((r) => [r.description, r]));
  const alarms: AlarmEventRecord[] = [];
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    const resource = byName.get(name);
    if (!resource) continue;
    const raise = (
      definition: string,
      severity: PerceivedSeverity,
      since: string,
      extra: Record<string, unknown>,
    ) =>
      alarms.push({
        // Stable while the condition lasts; a new occurrence (a new transition time) is a new alarm.
        alarmEventRecordId: stableId('alarm', resource.resourceId, definition, since),
        resourceTypeID: resource.resourceTypeId,
        resourceID: resource.resourceId,
        alarmDefinitionID: definition,
        probableCauseID: definition,
        alarmRaisedTime: since,
        alarmAcknowledged: false,
        perceivedSeverity: severity,
        extensions: { nodeName: name, resourcePoolId: resource.resourcePoolId, ...extra },
      });
    const conditions = new Map<string, NodeCondition>(
      (node.status?.conditions ?? []).map((c) => [c.type, c]),
    );
    for (const def of ALARM_DEFINITIONS) {
      const c = conditions.get(def.condition);
      // A node that never reported Ready is not ready either.
      const status = c?.status ?? (def.condition === 'Ready' ? 'Unknown' : undefined);
      if (!status || !(def.raisedWhen as readonly string[]).includes(status)) continue;
      raise(def.id, def.severity, c?.lastTransitionTime ?? node.metadata?.creationTimestamp ?? '', {
        condition: def.condition,
        status,
        ...(c?.reason ? { reason: c.reason } : {}),
        ...(c?.message ? { message: c.message } : {}),
      });
    }
    if (node.spec?.unschedulable) {
      const taint = node.spec.taints?.find((t) => t.key === 'node.kubernetes.io/unschedulable');
      raise(CORDONED, 'WARNING', taint?.timeAdded ?? node.metadata?.creationTimestamp ?? '', {
        reason: 'the node is cordoned: no new pods are scheduled on it',
      });
    }
  }
  return alarms.sort(
    (a, b) =>
      a.alarmRaisedTime.localeCompare(b.alarmRaisedTime) ||
      a.alarmEventRecordId.localeCompare(b.alarmEventRecordId),
  );
}
