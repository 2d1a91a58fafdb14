import type { Action, Actuator, Candidate } from './actuator.js';
import { MinHeap } from './heap.js';
import { distance, footprint, type Goal, isGoal, type PlanState, stateKey } from './state.js';

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

interface SearchNode {
  state: PlanState;
  g: number;
  h: number;
  parent: SearchNode | undefined;
  action: Action | undefined;
}

/**
 * Edge cost of an action: its utility, scaled by priority so that a low-priority workload pays
 * up to twice what a priority-1.0 one pays for the same action.
 */
export function edgeCost(utility: number, priority: number): number {
  return Math.max(utility, 1e-6) * (2 - priority);
}

/**
 * A* over the states the actuators predict. Duplicates are found by a hashed state key (a Map
 * lookup, not a linear scan); the search stops at `maxStates`. When the current state already
 * meets the goal, the search looks for a cheaper state that still meets it (scaling in); when
 * the goal is out of reach, it returns the path to the closest state it saw.
 */
export class AStarPlanner {
  constructor(private readonly opts: AStarOptions) {}

  async plan(start: PlanState, goal: Goal, actuators: readonly Actuator[], priority: number): Promise<Plan> {
    const saving = isGoal(start, goal);
    const startFootprint = footprint(start);
    const done = saving
      ? (s: PlanState) => footprint(s) < startFootprint && isGoal(s, goal)
      : (s: PlanState) => isGoal(s, goal);
    const h = saving ? () => 0 : (s: PlanState) => distance(s, goal);

    const root: SearchNode = { state: start, g: 0, h: h(start), parent: undefined, action: undefined };
    const open = new MinHeap<SearchNode>();
    const best = new Map<string, number>([[stateKey(start), 0]]);
    const expanded = new Set<string>();
    const closest: SearchNode[] = [];
    open.push(root, root.h);

    while (open.size > 0) {
      const node = open.pop()!;
      const nodeKey = stateKey(node.state);
      // Each state is expanded once: a stale entry (a cheaper path was found since) is skipped.
      if (node.g > best.get(nodeKey)! || expanded.has(nodeKey)) continue;
      expanded.add(nodeKey);
      if (node !== root && done(node.state)) return this.result(node, true, best.size);
      if (best.size >= this.opts.maxStates) break;
      for (const actuator of actuators) {
        let candidates: Candidate[] | Promise<Candidate[]> = actuator.nextState(
          node.state,
          goal,
          this.opts.maxCandidates,
        );
        if (candidates instanceof Promise) candidates = await candidates;
        const n = Math.min(candidates.length, this.opts.maxCandidates);
        for (let i = 0; i < n; i++) {
          const c = candidates[i]!;
          const key = stateKey(c.state);
          const g = node.g + edgeCost(c.utility, priority);
          const known = best.get(key);
          if (known !== undefined && (known <= g || expanded.has(key))) continue;
          if (known === undefined && best.size >= this.opts.maxStates) continue;
          best.set(key, g);
          const child: SearchNode = { state: c.state, g, h: h(c.state), parent: node, action: c.action };
          open.push(child, g + child.h);
          if (!saving) this.remember(closest, child);
        }
      }
    }
    if (saving) return this.result(root, true, best.size);
    // Opportunistic: the cheapest of the closest states, if it is closer than where we are.
    const closer = closest.filter((n) => n.h < root.h);
    const pick = closer.length ? closer.reduce((a, b) => (b.g < a.g ? b : a)) : root;
    return this.result(pick, false, best.size);
  }

  /** Keeps the few states closest to the goal (ties broken by cost) for opportunistic mode. */
  private remember(closest: SearchNode[], node: SearchNode): void {
    const keep = Math.max(1, this.opts.opportunisticCandidates);
    const worst = closest[closest.length - 1];
    if (worst && closest.length >= keep && (node.h > worst.h || (node.h === worst.h && node.g >= worst.g)))
      return;
    let i = closest.length;
    while (
      i > 0 &&
      (closest[i - 1]!.h > node.h || (closest[i - 1]!.h === node.h && closest[i - 1]!.g > node.g))
    )
      i--;
    closest.splice(i, 0, node);
    if (closest.length > keep) closest.pop();
  }

  private result(node: SearchNode, reachesGoal: boolean, states: number): Plan {
    const actions: Action[] = [];
    for (let n: SearchNode | undefined = node; n?.action; n = n.parent) actions.unshift(n.action);
    return { actions, state: node.state, reachesGoal, cost: node.g, states };
  }
}
