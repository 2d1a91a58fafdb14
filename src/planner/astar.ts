import type { Action, Actuator, Candidate } from './actuator.js';
import { GoalTerms } from './goal-terms.js';
import { IdHeap } from './heap.js';
import { footprint, type Goal, type PlanState } from './state.js';
import { StateTable } from './state-table.js';

export interface AStarOptions {
  /** Most states the search may generate (IDO's max_states): bounds time and memory. */
  maxStates: number;
  /** Most follow-up states taken from each actuator per expansion (IDO's max_candidates). */
  maxCandidates: number;
  /**
   * When the goal cannot be reached, how many of the closest states compete on path cost
   * (IDO's opportunistic_candidates; 0 takes the closest).
   */
  opportunisticCandidates: number;
}

export interface Plan {
  actions: Action[];
  /** The state the plan is predicted to lead to. */
  state: PlanState;
  /** The goal holds in `state`; false for an opportunistic plan (or an empty one). */
  reachesGoal: boolean;
  cost: number;
  /** States generated, duplicates excluded. */
  states: number;
}

/**
 * Edge cost of an action: its utility, scaled by priority so that a low-priority workload pays
 * up to twice what a priority-1.0 one pays for the same action.
 */
export function edgeCost(utility: number, priority: number): number {
  return Math.max(utility, 1e-6) * (2 - priority);
}

/**
 * A* over the states the actuators predict. Inside the search a state is an integer id in a
 * StateTable: duplicates are found by a hashed packed key (no key string per candidate), the open
 * list is a heap of ids with decrease-key, and the goal's bounds are worked out once. The search
 * stops at `maxStates`. When the current state already meets the goal, the search looks for a
 * cheaper state that still meets it (scaling in); when the goal is out of reach, it returns the
 * path to the closest state it saw.
 *
 * States are treated as immutable values: actuators may share unchanged parts (pods, CPU) between
 * a state and the states they derive from it, and so may the returned plan's state.
 */
export class AStarPlanner {
  constructor(private readonly opts: AStarOptions) {}

  async plan(start: PlanState, goal: Goal, actuators: readonly Actuator[], priority: number): Promise<Plan> {
    const { maxStates, maxCandidates } = this.opts;
    const terms = new GoalTerms(goal);
    const saving = terms.measure(start).unmet === 0;
    const startDistance = saving ? 0 : terms.measure(start).distance;
    const startFootprint = footprint(start);
    const table = new StateTable(maxStates);
    const open = new IdHeap(Math.min(maxStates, 4096));
    const closest = new Closest(Math.max(1, this.opts.opportunisticCandidates));

    table.find(start);
    table.insert(start, 0, startDistance, -1, undefined);
    open.push(0, startDistance, startDistance);

    while (open.size > 0) {
      const id = open.pop();
      table.closed[id] = 1;
      const state = table.states[id]!;
      if (id !== 0 && terms.measure(state).unmet === 0 && (!saving || footprint(state) < startFootprint))
        return result(table, id, true);
      if (table.size >= maxStates) break;
      const base = table.g[id]!;
      for (const actuator of actuators) {
        let candidates: Candidate[] | Promise<Candidate[]> = actuator.nextState(state, goal, maxCandidates);
        if (candidates instanceof Promise) candidates = await candidates;
        const n = Math.min(candidates.length, maxCandidates);
        for (let i = 0; i < n; i++) {
          const c = candidates[i]!;
          const g = base + edgeCost(c.utility, priority);
          let child = table.find(c.state);
          if (child >= 0) {
            // Each state is expanded once; an open one takes the cheaper path.
            if (table.closed[child] === 1 || table.g[child]! <= g) continue;
            table.g[child] = g;
            table.parent[child] = id;
            table.actions[child] = c.action;
            table.states[child] = c.state;
          } else {
            if (table.size >= maxStates) continue;
            child = table.insert(c.state, g, saving ? 0 : terms.measure(c.state).distance, id, c.action);
          }
          const h = table.h[child]!;
          open.push(child, g + h, h);
          if (!saving) closest.offer(child, table);
        }
      }
    }
    if (saving) return result(table, 0, true);
    // Opportunistic: the cheapest of the closest states, if it is closer than where we are.
    let pick = 0;
    for (const id of closest.ids)
      if (table.h[id]! < startDistance && (pick === 0 || table.g[id]! < table.g[pick]!)) pick = id;
    return result(table, pick, false);
  }
}

/** The few states closest to the goal (ties broken by cost), for opportunistic mode. */
class Closest {
  readonly ids: number[] = [];
  constructor(private readonly keep: number) {}

  offer(id: number, table: StateTable): void {
    const { ids, keep } = this;
    const h = table.h[id]!;
    const g = table.g[id]!;
    const worse = (other: number) => table.h[other]! > h || (table.h[other] === h && table.g[other]! > g);
    const worst = ids[ids.length - 1];
    if (worst !== undefined && ids.length >= keep && worst !== id && !worse(worst)) return;
    // A state already kept has just become cheaper: it moves to its new place.
    const at = ids.indexOf(id);
    if (at >= 0) ids.splice(at, 1);
    let i = ids.length;
    while (i > 0 && worse(ids[i - 1]!)) i--;
    ids.splice(i, 0, id);
    if (ids.length > keep) ids.pop();
  }
}

function result(table: StateTable, id: number, reachesGoal: boolean): Plan {
  return {
    actions: table.path(id),
    state: table.states[id]!,
    reachesGoal,
    cost: table.g[id]!,
    states: table.size,
  };
}
