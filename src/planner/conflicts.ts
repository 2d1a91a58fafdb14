import type { Action } from './actuator.js';

/** One intent's plan, with what decides between intents on the same workload. */
export interface IntentPlan {
  /** `<namespace>/<name>` of the intent. */
  intent: string;
  /** `<Kind>/<namespace>/<name>` of its target. */
  target: string;
  priority: number;
  /** For a stable tie-break: the older intent wins. */
  created: string;
  actions: readonly Action[];
}

export interface ConflictVerdict {
  /** Intents whose plan may run (at most one per workload among those in conflict). */
  winners: Set<string>;
  /** Intent → the intents it conflicts with. */
  conflicts: Map<string, string[]>;
}

/** What an action changes on the workload, and to what: two plans disagree on a setting. */
function settings(actions: readonly Action[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of actions) {
    if (a.name === 'scale_out' || a.name === 'scale_in')
      out.set('replicas', String(a.properties['replicas']));
    else if (a.name === 'cpu_scale') out.set(`cpu:${a.properties['container']}`, String(a.properties['cpu']));
    else out.set(`${a.name}:${JSON.stringify(a.properties)}`, 'do');
  }
  return out;
}

function outranks(a: IntentPlan, b: IntentPlan): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.created !== b.created) return a.created < b.created;
  return a.intent < b.intent;
}

/**
 * Two intents on the same workload conflict when their plans set the same thing (replicas, a
 * container's CPU) to different values: both cannot hold. Every intent in a conflict is named;
 * on each workload the highest priority (then the oldest) plan wins and the others wait.
 */
export function resolveConflicts(plans: readonly IntentPlan[]): ConflictVerdict {
  const conflicts = new Map<string, string[]>();
  const byTarget = new Map<string, IntentPlan[]>();
  for (const p of plans) {
    const list = byTarget.get(p.target);
    if (list) list.push(p);
    else byTarget.set(p.target, [p]);
  }
  const winners = new Set<string>();
  for (const group of byTarget.values()) {
    const set = group.map((p) => settings(p.actions));
    for (let i = 0; i < group.length; i++)
      for (let j = i + 1; j < group.length; j++) {
        let clash = false;
        for (const [k, v] of set[i]!) if (set[j]!.has(k) ? set[j]!.get(k) !== v : false) clash = true;
        if (!clash) continue;
        const a = group[i]!.intent;
        const b = group[j]!.intent;
        conflicts.set(a, [...(conflicts.get(a) ?? []), b]);
        conflicts.set(b, [...(conflicts.get(b) ?? []), a]);
      }
    const ranked = [...group].sort((x, y) => (outranks(x, y) ? -1 : outranks(y, x) ? 1 : 0));
    const chosen: IntentPlan[] = [];
    for (const p of ranked)
      if (!chosen.some((c) => conflicts.get(c.intent)?.includes(p.intent))) chosen.push(p);
    for (const p of chosen) winners.add(p.intent);
  }
  return { winners, conflicts };
}
